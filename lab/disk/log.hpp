#pragma once
// The lab disk's log: one line per event, with the wall time, to stderr or to
// the file of --log (opened before the daemon detaches, appended to).
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lab/disk/page_cache.hpp"

namespace haverify::labdisk {

class Log {
 public:
  // fd -1: stderr.
  explicit Log(UniqueFd file = UniqueFd()) : file_(std::move(file)) {}

  void operator()(const std::string& what) const {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm {};
    ::gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1'000'000);
    const std::string line =
        std::string(stamp) + " haverify-lab-disk[" + std::to_string(::getpid()) + "]: " + what + "\n";
    const int fd = file_.get() >= 0 ? file_.get() : STDERR_FILENO;
    [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());  // one write: lines stay whole
  }

 private:
  UniqueFd file_;
};

}  // namespace haverify::labdisk
