// The lab disk's page cache on a temporary backing directory, without FUSE:
// a "crash" is the cache object destroyed without writeback. The clock is
// injected; nothing here sleeps or asserts a timing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "../test_files.hpp"
#include "lab/disk/page_cache.hpp"

using namespace haverify::labdisk;
namespace fs = std::filesystem;
using haverify::testing::slurp;

namespace {

constexpr Nanos kSec = 1'000'000'000;

// A temporary backing directory, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "labdisk-unit-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void put(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

UniqueFd open_rw(const fs::path& p) {
  UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(fd.get() >= 0);
  return fd;
}

std::string cache_read(PageCache& c, int fd, std::size_t size, off_t off) {
  std::string buf(size, '\0');
  const long n = c.read(fd, buf.data(), size, off);
  REQUIRE(n >= 0);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

void cache_write(PageCache& c, int fd, const std::string& data, off_t off, bool sync = false) {
  REQUIRE(c.write(fd, data.data(), data.size(), off, sync) == static_cast<long>(data.size()));
}

// A device and a fake clock: charges are counted, never slept.
struct Rig {
  Nanos now = 0;
  Device device;
  explicit Rig(const char* profile = "ram")
      : device(
            *find_profile(profile), [this] { return now; }, [](Nanos) {}) {}
  ClockFn clock() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("lab disk: unsynced writes are lost with the cache, the backing file is untouched", "[unit]") {
  TempDir dir;
  const fs::path f = dir.path / "a";
  put(f, std::string(8192, 'o'));
  Rig rig;
  {
    PageCache cache({}, rig.device, rig.clock());
    UniqueFd fd = open_rw(f);
    cache_write(cache, fd.get(), std::string(100, 'n'), 100);
    cache_write(cache, fd.get(), "tail", 9000);  // extends the cached size
    CHECK(cache_read(cache, fd.get(), 10, 95) == "ooooonnnnn");
    CHECK(cache_read(cache, fd.get(), 100, 9000) == "tail");
    struct stat st {};
    REQUIRE(::fstat(fd.get(), &st) == 0);
    cache.overlay_stat(st);
    CHECK(st.st_size == 9004);
    CHECK(cache.stats().dirty_bytes == 2 * kPageSize);
    CHECK(slurp(f) == std::string(8192, 'o'));
  }  // the crash: no writeback
  CHECK(slurp(f) == std::string(8192, 'o'));
}

TEST_CASE("lab disk: fsync makes the pages and the size durable", "[unit]") {
  TempDir dir;
  const fs::path f = dir.path / "a";
  put(f, std::string(8192, 'o'));
  Rig rig;
  PageCache cache({}, rig.device, rig.clock());
  UniqueFd fd = open_rw(f);
  cache_write(cache, fd.get(), std::string(100, 'n'), 100);
  cache_write(cache, fd.get(), "tail", 9000);
  REQUIRE(cache.fsync(fd.get()) == 0);
  const std::string want =
      std::string(100, 'o') + std::string(100, 'n') + std::string(7992, 'o') + std::string(808, '\0') + "tail";
  CHECK(slurp(f) == want);
  const CacheStats s = cache.stats();
  CHECK(s.dirty_bytes == 0);
  CHECK(s.dirty_inodes == 0);
  CHECK(s.durable_bytes == kPageSize + (9004 - 8192));
  CHECK(s.fsyncs == 1);
  CHECK(cache_read(cache, fd.get(), 20000, 0) == want);
}

TEST_CASE("lab disk: background writeback takes the inodes dirty for dirty_expire", "[unit]") {
  TempDir dir;
  Rig rig;
  CacheOptions opt;
  opt.dirty_expire = 30 * kSec;
  PageCache cache(opt, rig.device, rig.clock());
  UniqueFd a = open_rw(dir.path / "a"), b = open_rw(dir.path / "b");
  cache_write(cache, a.get(), "first", 0);
  rig.now = 10 * kSec;
  cache_write(cache, b.get(), "second", 0);
  cache_write(cache, a.get(), "+", 5);  // a's age counts from when it became dirty
  rig.now = 30 * kSec - 1;
  CHECK(cache.writeback_expired() == 0);
  CHECK(slurp(dir.path / "a").empty());
  rig.now = 30 * kSec;
  CHECK(cache.writeback_expired() == 1);
  CHECK(slurp(dir.path / "a") == "first+");
  CHECK(slurp(dir.path / "b").empty());
  rig.now = 40 * kSec;
  CHECK(cache.writeback_expired() == 1);
  CHECK(slurp(dir.path / "b") == "second");
  CHECK(rig.device.stats().flushes == 0);  // background writeback never flushes the device cache
}

TEST_CASE("lab disk: the background writeback thread writes expired inodes back", "[unit]") {
  TempDir dir;
  Rig rig;
  CacheOptions opt;
  opt.dirty_expire = 0;
  PageCache cache(opt, rig.device, rig.clock());
  UniqueFd a = open_rw(dir.path / "a");
  cache_write(cache, a.get(), "flushed", 0);
  BackgroundWriteback flusher(cache, 1'000'000);  // every 1 ms
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (slurp(dir.path / "a").empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(slurp(dir.path / "a") == "flushed");
}

TEST_CASE("lab disk: truncate and extend are cached, applied at writeback", "[unit]") {
  TempDir dir;
  const fs::path f = dir.path / "a";
  put(f, std::string(10000, 'o'));
  Rig rig;
  auto exercise = [&](PageCache& cache, int fd) {
    cache_write(cache, fd, std::string(4096, 'a'), 0);
    REQUIRE(cache.truncate(fd, 10) == 0);
    REQUIRE(cache.truncate(fd, 4096) == 0);  // back up: the tail reads zeros, not the old 'a's
    REQUIRE(cache.extend(fd, 8192) == 0);    // fallocate: zeros up to 8192, backing 'o's ignored
    REQUIRE(cache.extend(fd, 100) == 0);     // extend never shrinks
    cache_write(cache, fd, "x", 5000);
    const std::string want = std::string(10, 'a') + std::string(4990, '\0') + "x" + std::string(3191, '\0');
    CHECK(cache_read(cache, fd, 20000, 0) == want);
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    cache.overlay_stat(st);
    CHECK(st.st_size == 8192);
    return want;
  };
  {
    PageCache cache({}, rig.device, rig.clock());
    UniqueFd fd = open_rw(f);
    exercise(cache, fd.get());
  }
  CHECK(slurp(f) == std::string(10000, 'o'));  // crashed: the truncation was not durable either
  PageCache cache({}, rig.device, rig.clock());
  UniqueFd fd = open_rw(f);
  REQUIRE(cache.truncate(fd.get(), 10000) == 0);  // to its own size: nothing to do, it stays clean
  CHECK(cache.stats().dirty_inodes == 0);
  const std::string want = exercise(cache, fd.get());
  REQUIRE(cache.fsync(fd.get()) == 0);
  CHECK(slurp(f) == want);
}

TEST_CASE("lab disk: hard links and renames share the inode's dirty pages", "[unit]") {
  TempDir dir;
  const fs::path a = dir.path / "a", b = dir.path / "b", c = dir.path / "c";
  put(a, "old!");
  REQUIRE(::link(a.c_str(), b.c_str()) == 0);
  Rig rig;
  PageCache cache({}, rig.device, rig.clock());
  {
    UniqueFd fa = open_rw(a);
    cache_write(cache, fa.get(), "new!", 0);
  }  // closed: the cache keeps its own fd of the inode
  UniqueFd fb = open_rw(b);
  CHECK(cache_read(cache, fb.get(), 10, 0) == "new!");
  fs::rename(b, c);
  REQUIRE(::unlink(a.c_str()) == 0);
  CHECK(slurp(c) == "old!");
  UniqueFd fc = open_rw(c);
  REQUIRE(cache.fsync(fc.get()) == 0);
  CHECK(slurp(c) == "new!");
}

TEST_CASE("lab disk: --torn-pages leaves the last page's first sector new after a crash", "[unit]") {
  TempDir dir;
  const fs::path f = dir.path / "a";
  put(f, std::string(8192, 'o'));
  Rig rig;
  CacheOptions opt;
  opt.torn_pages = true;
  {
    PageCache cache(opt, rig.device, rig.clock());
    UniqueFd fd = open_rw(f);
    cache_write(cache, fd.get(), std::string(8192, 'n'), 0);     // one PostgreSQL page over two 4 KiB pages
    cache_write(cache, fd.get(), std::string(4096, 'n'), 8192);  // an append tears nothing: no old data there
    CHECK(cache_read(cache, fd.get(), 8192, 0) == std::string(8192, 'n'));
    CHECK(cache.stats().torn_sectors == 1);
  }
  CHECK(slurp(f) == std::string(4096, 'o') + std::string(512, 'n') + std::string(3584, 'o'));
}

TEST_CASE("lab disk: an O_SYNC write is durable and the fsync after it costs no second flush", "[unit]") {
  TempDir dir;
  Rig rig("hdd");
  PageCache cache({}, rig.device, rig.clock());
  UniqueFd fd = open_rw(dir.path / "wal");
  cache_write(cache, fd.get(), std::string(8192, 'w'), 0, true);
  CHECK(slurp(dir.path / "wal") == std::string(8192, 'w'));
  CHECK(rig.device.stats().flushes == 1);
  REQUIRE(cache.fsync(fd.get()) == 0);  // the kernel follows an O_DSYNC write with an fsync
  CHECK(rig.device.stats().flushes == 1);
  cache_write(cache, fd.get(), "more", 8192);
  REQUIRE(cache.fsync(fd.get()) == 0);
  CHECK(rig.device.stats().flushes == 2);
  REQUIRE(cache.sync_dir() == 0);
  CHECK(rig.device.stats().flushes == 3);
  CHECK(cache.stats().fsyncs == 4);
}

TEST_CASE("lab disk: over the dirty limit a writer first writes back the oldest inode", "[unit]") {
  TempDir dir;
  Rig rig;
  CacheOptions opt;
  opt.dirty_limit_bytes = 2 * kPageSize;
  PageCache cache(opt, rig.device, rig.clock());
  UniqueFd a = open_rw(dir.path / "a"), b = open_rw(dir.path / "b");
  cache_write(cache, a.get(), std::string(3 * kPageSize, 'a'), 0);
  rig.now = 1;
  cache_write(cache, b.get(), "b", 0);
  CHECK(slurp(dir.path / "a") == std::string(3 * kPageSize, 'a'));
  CHECK(slurp(dir.path / "b").empty());
  CHECK(cache.stats().dirty_bytes == kPageSize);
}

TEST_CASE("lab disk: a clean unmount writes everything back", "[unit]") {
  TempDir dir;
  Rig rig;
  PageCache cache({}, rig.device, rig.clock());
  UniqueFd a = open_rw(dir.path / "a"), b = open_rw(dir.path / "b");
  cache_write(cache, a.get(), "aa", 0);
  cache_write(cache, b.get(), "bb", 4096);
  CHECK(cache.writeback_all() == 0);
  CHECK(slurp(dir.path / "a") == "aa");
  CHECK(slurp(dir.path / "b") == std::string(4096, '\0') + "bb");
}
