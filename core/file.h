// Crash-safe file output: the one atomic-write helper (checkpoints, CSV, JSON, figures' data).
#pragma once
#include <string>
#include <string_view>

namespace normlab {

// Writes `content` to PATH.tmp, flushes it to the disk (fsync), renames it over PATH and syncs the
// folder: a reader — or a run resumed after a crash or power cut at any moment — sees the old file
// or the new one, never a half-written one. On failure (disk full, folder not writable) the temp
// file is removed, PATH is untouched, and IoError says which file and why.
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace normlab
