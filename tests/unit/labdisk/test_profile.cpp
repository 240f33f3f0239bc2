// The lab disk's cost model: what the device queue charges for contiguous and
// scattered runs, flushes and cold reads. Computed costs only: the clock is
// fake and nothing sleeps.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lab/disk/page_cache.hpp"
#include "lab/disk/profile.hpp"

using namespace haverify::labdisk;
namespace fs = std::filesystem;

namespace {

constexpr Nanos kMs = 1'000'000;

Nanos transfer(std::uint64_t bytes, double rate) {
  return static_cast<Nanos>(static_cast<double>(bytes) * 1e9 / rate);
}

struct FakeDevice {
  Nanos now = 0;
  std::vector<Nanos> slept_until;
  Device device;
  explicit FakeDevice(const char* profile)
      : device(
            *find_profile(profile), [this] { return now; }, [this](Nanos t) { slept_until.push_back(t); }) {}
};

}  // namespace

TEST_CASE("lab disk profiles: one table, the figures the docs give", "[unit]") {
  CHECK(disk_profiles().size() == 4);
  const DiskProfile* hdd = find_profile("hdd");
  REQUIRE(hdd != nullptr);
  CHECK(hdd->read_access == 8 * kMs);                // ~125 random reads a second
  CHECK(hdd->write_access + hdd->flush == 8 * kMs);  // one rewritten page made durable: a rotation at 7200 rpm
  CHECK(find_profile("ram")->flush == 0);
  CHECK(find_profile("nvme") == nullptr);
  const std::string table = profile_table();
  for (const char* name : {"ram", "ssd", "hdd", "san"}) CHECK(table.find(name) != std::string::npos);
}

TEST_CASE("lab disk device: an access time per run that does not continue the previous I/O", "[unit]") {
  FakeDevice d("hdd");
  const DiskProfile& p = *find_profile("hdd");
  const double rate = p.bytes_per_s;
  const Nanos access = p.write_access;
  // Contiguous: one run, one access.
  const std::vector<IoRun> contiguous{{1, 0, 3 * 4096}};
  CHECK(d.device.charge(IoKind::write, contiguous, false) == access + transfer(3 * 4096, rate));
  // Continuing where the last I/O ended (same file, next byte): no access.
  const std::vector<IoRun> next{{1, 3 * 4096, 4096}};
  CHECK(d.device.charge(IoKind::write, next, false) == transfer(4096, rate));
  // Scattered: three runs, three accesses, then the fsync's cache flush.
  const std::vector<IoRun> scattered{{1, 10 * 4096, 4096}, {1, 20 * 4096, 4096}, {2, 4 * 4096, 4096}};
  CHECK(d.device.charge(IoKind::write, scattered, true) == 3 * access + 3 * transfer(4096, rate) + p.flush);
  const DeviceStats s = d.device.stats();
  CHECK(s.accesses == 4);
  CHECK(s.flushes == 1);
  CHECK(s.bytes_written == 7 * 4096);
}

TEST_CASE("lab disk device: one queue, so concurrent I/O serialises", "[unit]") {
  FakeDevice d("ssd");
  d.now = 1000;
  const Nanos flush = find_profile("ssd")->flush;
  CHECK(d.device.charge(IoKind::write, {}, true) == flush);
  CHECK(d.device.charge(IoKind::write, {}, true) == flush);  // issued at the same instant: waits for the first
  REQUIRE(d.slept_until.size() == 2);
  CHECK(d.slept_until[0] == 1000 + flush);
  CHECK(d.slept_until[1] == 1000 + 2 * flush);
  d.now = 1'000'000'000;  // idle since: the next slot starts now
  d.device.charge(IoKind::write, {}, true);
  CHECK(d.slept_until.back() == 1'000'000'000 + flush);
}

TEST_CASE("lab disk device: the ram profile costs nothing and never sleeps", "[unit]") {
  FakeDevice d("ram");
  const std::vector<IoRun> runs{{1, 0, 1 << 20}, {1, 1 << 24, 4096}};
  CHECK(d.device.charge(IoKind::write, runs, true) == 0);
  CHECK(d.slept_until.empty());
  CHECK(d.device.stats().flushes == 1);
}

TEST_CASE("lab disk: cold reads are charged once per run of pages not read or written since start", "[unit]") {
  std::string tmpl = (fs::temp_directory_path() / "labdisk-cost-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path dir = tmpl;
  std::ofstream(dir / "rel") << std::string(64 * 1024, 'r');
  {
    FakeDevice d("hdd");
    PageCache cache({}, d.device, [&d] { return d.now; });
    UniqueFd fd(::open((dir / "rel").c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(fd.get() >= 0);
    std::string buf(64 * 1024, '\0');
    CHECK(cache.read(fd.get(), buf.data(), 16384, 0) == 16384);  // pages 0-3: one run
    CHECK(d.device.stats().accesses == 1);
    CHECK(cache.read(fd.get(), buf.data(), 16384, 0) == 16384);  // warm now
    CHECK(d.device.stats().accesses == 1);
    CHECK(d.device.stats().bytes_read == 16384);
    CHECK(cache.write(fd.get(), "w", 1, 5 * 4096, false) == 1);  // a partial write reads its page: page 5
    CHECK(d.device.stats().accesses == 2);
    // Pages 4 and 6-15: two cold runs around the warm page 5, neither continuing the
    // previous I/O: two accesses.
    CHECK(cache.read(fd.get(), buf.data(), 64 * 1024, 0) == 64 * 1024);
    CHECK(d.device.stats().accesses == 4);
    CHECK(d.device.stats().bytes_read == 64 * 1024);
    CHECK(buf[5 * 4096] == 'w');
  }
  fs::remove_all(dir);
}

TEST_CASE("lab disk PageRanges: merged ranges and the runs missing from them", "[unit]") {
  PageRanges r;
  r.insert(10, 20);
  r.insert(30, 40);
  r.insert(20, 25);  // adjacent: merges
  CHECK(r.ranges() == 2);
  CHECK(r.contains(24));
  CHECK_FALSE(r.contains(25));
  using Runs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  CHECK(r.missing(0, 50) == Runs{{0, 10}, {25, 30}, {40, 50}});
  CHECK(r.missing(12, 18).empty());
  CHECK(r.missing(15, 35) == Runs{{25, 30}});
  r.insert(5, 45);
  CHECK(r.ranges() == 1);
  CHECK(r.missing(0, 50) == Runs{{0, 5}, {45, 50}});
}
