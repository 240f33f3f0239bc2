#pragma once
// Reading the files a user gives haverify (scenarios, inventories, plan
// sheets, results, the fault ledger): regular files only, bounded in size,
// and every refusal a UsageError that names the path and what to do. A FIFO
// is refused before it is opened (opening one blocks until a writer comes);
// /dev/zero and a directory are refused by their type, not by running out of
// memory or into "Is a directory".
#include <cstddef>
#include <string>

#include "haverify/core/errors.hpp"

namespace haverify {

// "PATH: REASON" (exit 2).
class InputFileError : public UsageError {
 public:
  InputFileError(std::string path, std::string reason);
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

// The largest input file haverify reads: its files are kilobytes, a results
// sheet of ten thousand rows a few megabytes.
inline constexpr std::size_t kMaxInputBytes = 64u << 20;

// The whole file as bytes. Throws InputFileError: "PATH: no such file",
// "PATH: is a directory, not a file", "PATH: is a FIFO ...", "PATH: cannot
// read it (permission denied)", "PATH: is N MiB, more than the M MiB ...".
std::string read_input_file(const std::string& path, std::size_t max_bytes = kMaxInputBytes);

// Drops a UTF-8 byte order mark (files saved by Excel or Notepad start with one).
std::string strip_utf8_bom(std::string text);

}  // namespace haverify
