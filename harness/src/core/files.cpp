#include "haverify/core/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "haverify/core/errors.hpp"

namespace haverify {

InputFileError::InputFileError(std::string path, std::string reason)
    : UsageError(fmt::format("{}: {}", path, reason)), path_(std::move(path)), reason_(std::move(reason)) {}

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse_errno(const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) throw InputFileError(path, "no such file (check the path)");
  if (err == EACCES || err == EPERM)
    throw InputFileError(path, "cannot read it (permission denied; check its mode and its folders')");
  throw InputFileError(path, fmt::format("cannot read it ({})", std::strerror(err)));
}

[[noreturn]] void refuse_size(const std::string& path, std::size_t max_bytes) {
  throw InputFileError(path,
                       fmt::format("larger than {} MiB, the most haverify reads from one file (is it the right file?)",
                                   max_bytes >> 20));
}

void check_type(const std::string& path, const struct stat& st, std::size_t max_bytes) {
  if (!S_ISREG(st.st_mode)) throw InputFileError(path, fmt::format("is {}; give a regular file", kind_of(st.st_mode)));
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) refuse_size(path, max_bytes);
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string read_input_file(const std::string& path, std::size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse_errno(path, errno);
  check_type(path, st, max_bytes);
  // O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) refuse_errno(path, errno);
  if (::fstat(f.fd, &st) != 0) refuse_errno(path, errno);
  check_type(path, st, max_bytes);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse_errno(path, errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) refuse_size(path, max_bytes);  // it grew while we read
  }
  return out;
}

std::string strip_utf8_bom(std::string text) {
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  return text;
}

}  // namespace haverify
