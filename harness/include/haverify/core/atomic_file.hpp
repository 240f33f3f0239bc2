#pragma once
// Files that a crash (kill -9 of haverify, a power loss) leaves whole: either
// the old content or the new one, never a part of it.
#include <sys/types.h>
#include <string>

namespace haverify {

// Writes `content` to a temporary file beside `path` (`path`.tmp, created
// with `mode`), fsyncs it, renames it over `path` and fsyncs the folder.
// Throws std::runtime_error naming the file on any failure.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0644);

}  // namespace haverify
