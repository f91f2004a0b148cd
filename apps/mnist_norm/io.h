// Small helpers for the app: reading files, timestamps. (Atomic writes: core/file.h.)
#pragma once
#include <string>

#include "core/file.h"

namespace normlab::app {

std::string read_file(const std::string& path);
std::string timestamp();  // e.g. 20261124-071503, local time
bool stdout_is_terminal();

}  // namespace normlab::app
