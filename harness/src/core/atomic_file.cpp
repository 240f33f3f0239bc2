#include "haverify/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace haverify {

namespace {

// Owns a file descriptor (closed on every path out).
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string tmp = path + ".tmp";
  {
    Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (f.fd < 0) fail("cannot write", tmp);
    std::size_t off = 0;
    while (off < content.size()) {
      const ssize_t n = ::write(f.fd, content.data() + off, content.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("write failed (disk full?):", tmp);
      off += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) fail("fsync failed:", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(fmt::format("cannot rename {} to", tmp), path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0) ::fsync(d.fd);  // the rename itself is durable once the folder is
}

}  // namespace haverify
