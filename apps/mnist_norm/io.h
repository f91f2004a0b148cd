// Small output helpers for the app: atomic file writes (temp file + rename), timestamps.
#pragma once
#include <string>

namespace normlab::app {

// Writes `content` to PATH.tmp and renames it over PATH: readers never see a half-written file.
void write_file_atomic(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);
std::string timestamp();  // e.g. 20261124-071503, local time
bool stdout_is_terminal();

}  // namespace normlab::app
