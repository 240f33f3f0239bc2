// The disk profiles and the device queue (profile.hpp).
#include "lab/disk/profile.hpp"

#include <time.h>

#include <array>
#include <cerrno>
#include <cstdio>

namespace haverify::labdisk {

namespace {

constexpr Nanos kUs = 1'000;
constexpr Nanos kMs = 1'000'000;

// The one table of figures. Where they come from: docs/lab.md, "The lab disk".
constexpr std::array kProfiles{
    DiskProfile{"ram", "no cost at all; power-loss semantics only", 0, 0, 0, 0},
    DiskProfile{"ssd", "consumer SATA SSD, no power-loss protection", 100 * kUs, 50 * kUs, 500 * kUs, 500e6},
    DiskProfile{"hdd", "7200 rpm disk, write cache flushed by every fsync", 8 * kMs, 4 * kMs, 4 * kMs, 150e6},
    DiskProfile{"san", "array with an NVRAM write cache, reads that miss it", 2 * kMs, 300 * kUs, 300 * kUs, 400e6},
};

}  // namespace

std::span<const DiskProfile> disk_profiles() {
  return kProfiles;
}

const DiskProfile* find_profile(std::string_view name) {
  for (const auto& p : kProfiles)
    if (p.name == name) return &p;
  return nullptr;
}

std::string profile_table() {
  std::string out = "profile  read-access  write-access  flush     MB/s  what\n";
  char line[256];
  for (const auto& p : kProfiles) {
    std::snprintf(line, sizeof line, "%-7s  %8.2f ms  %9.2f ms  %5.2f ms  %5.0f  %.*s\n", std::string(p.name).c_str(),
                  p.read_access / 1e6, p.write_access / 1e6, p.flush / 1e6, p.bytes_per_s / 1e6,
                  static_cast<int>(p.what.size()), p.what.data());
    out += line;
  }
  out += "(MB/s 0: transfers are free)\n";
  return out;
}

Nanos steady_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until_steady(Nanos when) {
  timespec ts{};
  ts.tv_sec = when / 1'000'000'000;
  ts.tv_nsec = when % 1'000'000'000;
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

Device::Device(const DiskProfile& profile, ClockFn now, SleepUntilFn sleep_until)
    : profile_(profile), now_(std::move(now)), sleep_until_(std::move(sleep_until)) {}

Nanos Device::cost_locked(IoKind kind, std::span<const IoRun> runs, bool flush) {
  Nanos cost = 0;
  const Nanos access = kind == IoKind::read ? profile_.read_access : profile_.write_access;
  for (const auto& r : runs) {
    if (r.bytes == 0) continue;
    const bool sequential = have_last_ && r.file == last_file_ && r.offset == last_end_;
    if (!sequential) {
      cost += access;
      ++stats_.accesses;
    }
    if (profile_.bytes_per_s > 0) cost += static_cast<Nanos>(static_cast<double>(r.bytes) * 1e9 / profile_.bytes_per_s);
    (kind == IoKind::read ? stats_.bytes_read : stats_.bytes_written) += r.bytes;
    have_last_ = true;
    last_file_ = r.file;
    last_end_ = r.offset + r.bytes;
  }
  if (flush) {
    cost += profile_.flush;
    ++stats_.flushes;
  }
  stats_.busy += cost;
  return cost;
}

Nanos Device::charge(IoKind kind, std::span<const IoRun> runs, bool flush) {
  Nanos cost = 0;
  Nanos end = 0;
  {
    std::lock_guard lock(mu_);
    cost = cost_locked(kind, runs, flush);
    if (cost == 0) return 0;
    const Nanos now = now_();
    busy_until_ = (busy_until_ > now ? busy_until_ : now) + cost;
    end = busy_until_;
  }
  sleep_until_(end);
  return cost;
}

void Device::wait_until(Nanos when) const {
  if (when > now_()) sleep_until_(when);
}

Nanos Device::busy_until() const {
  std::lock_guard lock(mu_);
  return busy_until_;
}

DeviceStats Device::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace haverify::labdisk
