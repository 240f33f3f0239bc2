#pragma once
// The lab disk's cost model: disk profiles (what durability and cold reads
// cost on a kind of device) and the one device queue every I/O of the daemon
// goes through. No FUSE in here: unit-tested on its own.
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace haverify::labdisk {

using Nanos = std::int64_t;  // nanoseconds, on the clock the daemon was given

// What one kind of device charges. The table is kProfiles (profile.cpp), the one
// place the figures live; docs/lab.md ("The lab disk") says where they come from.
struct DiskProfile {
  std::string_view name;
  std::string_view what;  // one line for --profiles
  Nanos read_access;      // a cold read run that does not continue the previous I/O
  Nanos write_access;     // a written-back run that does not continue the previous I/O
  Nanos flush;            // the cache flush that ends every fsync
  double bytes_per_s;     // transfer rate; 0 = free
};

std::span<const DiskProfile> disk_profiles();
// nullptr if there is no profile of that name.
const DiskProfile* find_profile(std::string_view name);
// The table as --profiles prints it.
std::string profile_table();

// One contiguous run of bytes on the device. `file` tells runs of different
// files apart: a run continues the previous I/O only in the same file, at the
// byte where that I/O ended.
struct IoRun {
  std::uint64_t file = 0;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
};

enum class IoKind { read, write };

struct DeviceStats {
  std::uint64_t accesses = 0;  // access times charged (seeks)
  std::uint64_t flushes = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  Nanos busy = 0;  // the sum of every charged cost
};

using ClockFn = std::function<Nanos()>;
using SleepUntilFn = std::function<void(Nanos)>;

// The steady clock in nanoseconds, and a sleep until such an instant.
Nanos steady_now();
void sleep_until_steady(Nanos when);

// One device queue: a "busy until" cursor under a mutex. Each I/O reserves the
// next slot of its cost and the calling thread sleeps until its slot ends, so
// concurrent fsyncs serialise as on one real device.
class Device {
 public:
  Device(const DiskProfile& profile, ClockFn now, SleepUntilFn sleep_until);

  // Reserves the device for `runs` (then a cache flush if `flush`) and waits
  // until the slot ends. Returns the cost charged. Zero cost never sleeps.
  Nanos charge(IoKind kind, std::span<const IoRun> runs, bool flush);
  // Waits until `when` (an instant an earlier charge returned from end()).
  void wait_until(Nanos when) const;
  // The end of the latest slot reserved.
  Nanos busy_until() const;

  const DiskProfile& profile() const { return profile_; }
  DeviceStats stats() const;

 private:
  Nanos cost_locked(IoKind kind, std::span<const IoRun> runs, bool flush);

  const DiskProfile profile_;
  ClockFn now_;
  SleepUntilFn sleep_until_;
  mutable std::mutex mu_;
  Nanos busy_until_ = 0;
  bool have_last_ = false;
  std::uint64_t last_file_ = 0;
  std::uint64_t last_end_ = 0;
  DeviceStats stats_;
};

}  // namespace haverify::labdisk
