// The lab disk (lab/disk, haverify-lab-disk) mounted for real on a temporary
// directory over a temporary backing store (root and /dev/fuse needed): a
// power-off (SIGKILL of the daemon) loses the unsynced writes and keeps the
// fsynced ones, --torn-pages tears a page, a clean unmount keeps everything,
// readers of a file being appended to never see a stale page, and PostgreSQL
// 15 runs on it and recovers its committed rows after one.
// Every wait has a deadline; the mounts are cleaned up whatever happens.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "skip.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kMountDeadline = 10s;
constexpr auto kExitDeadline = 30s;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void put(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
}

// Writes `data` at `off` through a fresh fd; fsync first if asked.
void write_at(const fs::path& p, const std::string& data, off_t off, bool fsync_it, int flags = O_WRONLY | O_CREAT) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const ssize_t n = ::pwrite(fd, data.data(), data.size(), off);
  const int synced = fsync_it ? ::fsync(fd) : 0;
  ::close(fd);
  REQUIRE(n == static_cast<ssize_t>(data.size()));
  REQUIRE(synced == 0);
}

void fsync_dir(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const int rc = ::fsync(fd);
  ::close(fd);
  REQUIRE(rc == 0);
}

bool mounted(const fs::path& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  const std::string needle = " " + mnt.string() + " ";
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

// Polls `done` every 5 ms until it holds or `deadline` passes.
template <class F>
bool wait_for(F done, std::chrono::milliseconds deadline) {
  const auto end = Clock::now() + deadline;
  while (!done()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

pid_t spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  return ::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) == 0 ? pid : -1;
}

// Reaps `pid` within `deadline`: its exit status, or nullopt (then it was killed).
std::optional<int> reap(pid_t pid, std::chrono::milliseconds deadline) {
  int status = 0;
  if (wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, deadline))
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

// Runs a command (argv[0] a full path) to its end within `deadline`.
std::optional<int> run(const std::vector<std::string>& argv, std::chrono::milliseconds deadline) {
  const pid_t pid = spawn(argv);
  if (pid < 0) return std::nullopt;
  return reap(pid, deadline);
}

void lazy_unmount(const fs::path& mnt) {
  if (mounted(mnt)) run({"/usr/bin/fusermount3", "-u", "-z", mnt.string()}, kExitDeadline);
}

// A temporary directory: backing store, mount point and logs, removed with
// everything in it once nothing is mounted there any more.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "labdisk-it-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
    ::chmod(path.c_str(), 0755);  // the postgres user walks through it
    fs::create_directories(path / "backing");
    fs::create_directories(path / "mnt");
  }
  ~TempDir() {
    lazy_unmount(path / "mnt");
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path backing() const { return path / "backing"; }
  fs::path mnt() const { return path / "mnt"; }
};

// One haverify-lab-disk in the foreground, mounted; the destructor kills it
// and unmounts whatever state it is in.
class LabDisk {
 public:
  LabDisk(const TempDir& dir, std::vector<std::string> options) : mnt_(dir.mnt()), log_(dir.path / "disk.log") {
    std::vector<std::string> argv{HAVERIFY_LAB_DISK_BIN, "--log", log_.string()};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(dir.backing().string());
    argv.push_back(mnt_.string());
    pid_ = spawn(argv);
    REQUIRE(pid_ > 0);
    int status = 0;
    const bool up =
        wait_for([&] { return mounted(mnt_) || ::waitpid(pid_, &status, WNOHANG) == pid_; }, kMountDeadline);
    if (!up || !mounted(mnt_)) FAIL("haverify-lab-disk did not mount " << mnt_ << "; its log:\n" << slurp(log_));
  }
  ~LabDisk() {
    if (pid_ > 0) power_off();
  }
  LabDisk(const LabDisk&) = delete;
  LabDisk& operator=(const LabDisk&) = delete;

  // SIGKILL, as a lab power-off, then the dead mount is detached.
  void power_off() {
    ::kill(pid_, SIGKILL);
    reap(pid_, kExitDeadline);
    pid_ = -1;
    lazy_unmount(mnt_);
  }
  // fusermount3 -u, then the daemon writes everything back and exits: its status.
  std::optional<int> unmount() {
    run({"/usr/bin/fusermount3", "-u", mnt_.string()}, kExitDeadline);
    const auto rc = reap(pid_, kExitDeadline);
    pid_ = -1;
    return rc;
  }
  std::string log() const { return slurp(log_); }

 private:
  fs::path mnt_;
  fs::path log_;
  pid_t pid_ = -1;
};

// Exited: no such process, or a zombie (its parent, not us, reaps it).
bool gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return true;
  const auto paren = line.rfind(')');
  return paren == std::string::npos || line.compare(paren + 2, 1, "Z") == 0;
}

// Root, /dev/fuse and fusermount3, or the test is skipped (a failure in CI).
std::string missing_fuse() {
  if (::geteuid() != 0) return "not root";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) return "no /dev/fuse";
  if (::access("/usr/bin/fusermount3", X_OK) != 0) return "no fusermount3 (apt install fuse3)";
  return "";
}

}  // namespace

TEST_CASE("lab disk: a power-off loses the unsynced writes and keeps the fsynced ones", "[integration]") {
  if (const auto why = missing_fuse(); !why.empty()) HAVERIFY_SKIP(why);
  TempDir dir;
  put(dir.backing() / "a", "old content of a");
  {
    LabDisk disk(dir, {"--profile", "ssd"});
    const fs::path m = dir.mnt();
    write_at(m / "a", "NEW CONTENT OF A", 0, false);  // overwritten, never synced
    write_at(m / "c", "never synced", 0, false);      // created, data never synced
    write_at(m / "b.tmp", "durable b", 0, true);      // the durable-rename dance
    fs::rename(m / "b.tmp", m / "b");
    fs::create_directory(m / "d");
    fsync_dir(m);
    CHECK(slurp(m / "a") == "NEW CONTENT OF A");
    CHECK(slurp(m / "c") == "never synced");
    disk.power_off();
  }
  CHECK(slurp(dir.backing() / "a") == "old content of a");
  LabDisk again(dir, {"--profile", "ssd"});
  const fs::path m = dir.mnt();
  CHECK(slurp(m / "a") == "old content of a");
  CHECK(fs::exists(m / "c"));  // namespace operations are durable at once
  CHECK(fs::file_size(m / "c") == 0);
  CHECK(slurp(m / "b") == "durable b");
  CHECK_FALSE(fs::exists(m / "b.tmp"));
  CHECK(fs::is_directory(m / "d"));
}

TEST_CASE("lab disk: --torn-pages leaves a half-written page after a power-off", "[integration]") {
  if (const auto why = missing_fuse(); !why.empty()) HAVERIFY_SKIP(why);
  TempDir dir;
  put(dir.backing() / "rel", std::string(8192, 'o'));
  {
    LabDisk disk(dir, {"--torn-pages"});
    write_at(dir.mnt() / "rel", std::string(8192, 'n'), 0, false);  // one 8 KiB PostgreSQL page
    CHECK(slurp(dir.mnt() / "rel") == std::string(8192, 'n'));
  }  // the destructor powers it off
  CHECK(slurp(dir.backing() / "rel") == std::string(4096, 'o') + std::string(512, 'n') + std::string(3584, 'o'));
}

TEST_CASE("lab disk: a clean unmount writes everything back, also after --daemon returned with the mount up",
          "[integration]") {
  if (const auto why = missing_fuse(); !why.empty()) HAVERIFY_SKIP(why);
  TempDir dir;
  {
    LabDisk disk(dir, {"--profile", "hdd"});
    write_at(dir.mnt() / "unsynced", "kept by the unmount", 0, false);
    CHECK(disk.unmount() == 0);
    CHECK(disk.log().find("unmounted") != std::string::npos);
  }
  CHECK(slurp(dir.backing() / "unsynced") == "kept by the unmount");
  const fs::path pid_file = dir.path / "disk.pid";
  const auto rc = run({HAVERIFY_LAB_DISK_BIN, "--daemon", "--pid-file", pid_file.string(), "-o", "profile=ram",
                       dir.backing().string(), dir.mnt().string()},
                      kExitDeadline);
  REQUIRE(rc == 0);
  CHECK(mounted(dir.mnt()));  // up when --daemon returned
  const pid_t pid = std::stoi(slurp(pid_file));
  write_at(dir.mnt() / "second", "also kept", 0, false);
  run({"/usr/bin/fusermount3", "-u", dir.mnt().string()}, kExitDeadline);
  CHECK(wait_for([&] { return gone(pid); }, kExitDeadline));
  CHECK(slurp(dir.backing() / "second") == "also kept");
}

namespace {

// The byte at `off` of the file the concurrent-reader test writes: never 0.
char pattern_at(std::uint64_t off) {
  return static_cast<char>(1 + (off * 2654435761u >> 11) % 255);
}

// A reader thread of that test: its own fd, reopened every 8 reads (an open
// and a stat are what made the kernel drop its pages), reads what the writer
// has published and counts the bytes that differ from the pattern.
std::uint64_t read_behind(const fs::path& file, const std::atomic<std::uint64_t>& published,
                          const std::atomic<bool>& stop) {
  std::uint64_t wrong = 0, checked = 0;
  std::vector<char> buf;
  for (int round = 0; !stop.load(); ++round) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ~std::uint64_t{0};
    for (int i = 0; i < 8 && !stop.load(); ++i) {
      const std::uint64_t end = published.load();
      const std::uint64_t from = checked > 8192 ? checked - 8192 : 0;  // re-reads the page being written
      buf.resize(end - from);
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(from));
      if (n != static_cast<ssize_t>(buf.size())) {
        ++wrong;
        continue;
      }
      for (std::uint64_t o = from; o < end; ++o) wrong += buf[o - from] != pattern_at(o);
      checked = end;
      struct stat st {};
      ::fstat(fd, &st);
    }
    ::close(fd);
  }
  return wrong;
}

}  // namespace

TEST_CASE("lab disk: readers through their own opens see every byte a writer appended, as a walsender reads WAL",
          "[integration]") {
  if (const auto why = missing_fuse(); !why.empty()) HAVERIFY_SKIP(why);
  TempDir dir;
  LabDisk disk(dir, {"--profile", "ram"});
  const fs::path file = dir.mnt() / "wal";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::atomic<std::uint64_t> published{0};
  std::atomic<bool> stop{false};
  std::uint64_t wrong[2] = {0, 0};
  std::thread readers[2];
  for (int r = 0; r < 2; ++r) readers[r] = std::thread([&, r] { wrong[r] = read_behind(file, published, stop); });
  // Records of 24 to 600 bytes, each written on its own and then published,
  // as WAL: most of them end inside a page the readers have already read.
  std::uint64_t off = 0;
  bool written = true;
  const auto until = Clock::now() + 5s;
  for (std::uint64_t i = 0; written && off < (32u << 20) && Clock::now() < until; ++i) {
    const std::uint64_t len = 24 + (i * 7919) % 577;
    std::string rec(len, '\0');
    for (std::uint64_t k = 0; k < len; ++k) rec[k] = pattern_at(off + k);
    written = ::pwrite(fd, rec.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
    off += len;
    published.store(off);
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  ::close(fd);
  REQUIRE(written);
  INFO(off << " bytes appended");
  CHECK(off > 1u << 20);
  CHECK(wrong[0] == 0);
  CHECK(wrong[1] == 0);
}

TEST_CASE("lab disk: bad arguments are usage errors (exit 2)", "[integration]") {
  TempDir dir;
  const std::string b = dir.backing().string(), m = dir.mnt().string();
  CHECK(run({HAVERIFY_LAB_DISK_BIN, "--profile", "floppy", b, m}, kExitDeadline) == 2);
  CHECK(run({HAVERIFY_LAB_DISK_BIN, (dir.path / "nope").string(), m}, kExitDeadline) == 2);
  CHECK(run({HAVERIFY_LAB_DISK_BIN, b}, kExitDeadline) == 2);
  CHECK(run({HAVERIFY_LAB_DISK_BIN, "--dirty-expire", "soon", b, m}, kExitDeadline) == 2);
  put(dir.mnt() / "file", "x");
  CHECK(run({HAVERIFY_LAB_DISK_BIN, b, m}, kExitDeadline) == 2);  // a mount point that is not empty
  CHECK(run({HAVERIFY_LAB_DISK_BIN, "--profiles"}, kExitDeadline) == 0);
}

namespace {

const std::string kPgBin = "/usr/lib/postgresql/15/bin";

// Reaps `pid` and every other orphan this process inherited (it is their
// subreaper, see the PostgreSQL test), until `pid` is reaped or the deadline passes.
bool reap_orphans(pid_t pid, std::chrono::milliseconds deadline) {
  bool reaped = false;
  wait_for(
      [&] {
        for (pid_t p; (p = ::waitpid(-1, nullptr, WNOHANG)) > 0;) reaped = reaped || p == pid;
        return reaped;
      },
      deadline);
  return reaped;
}

// A PostgreSQL server started on the lab disk: the destructor SIGKILLs its
// process group (pg_ctl starts the postmaster in a session of its own) if it
// is still there, so that a failed test leaves no server on a dead mount. The
// test process is the postmaster's subreaper: a killed postmaster left a
// zombie would look alive to the next one (postmaster.pid), as no power-off does.
struct PgOnDisk {
  fs::path dir;  // logs and the socket, outside the mount
  fs::path data;
  pid_t postmaster = -1;

  // A command as user postgres through a shell, with a deadline (timeout(1)).
  int as_postgres(const std::string& cmd) const {
    const std::string full =
        fmt::format("timeout 120 runuser -u postgres -- {} >>{}/commands.log 2>&1", cmd, dir.string());
    return std::system(full.c_str());
  }
  bool start() {
    const int rc = as_postgres(fmt::format(
        "{}/pg_ctl -D {} -l {}/server.log -w -t 60 -o \"-c listen_addresses='' -c unix_socket_directories={} -c "
        "port=5432\" start",
        kPgBin, data.string(), dir.string(), dir.string()));
    std::ifstream pidfile(data / "postmaster.pid");
    pidfile >> postmaster;
    return rc == 0 && postmaster > 0;
  }
  bool sql(const std::string& query, const std::string& out_file = "/dev/null") const {
    return as_postgres(fmt::format("{}/psql -h {} -p 5432 -U postgres -At -v ON_ERROR_STOP=1 -c \"{}\" -o {}", kPgBin,
                                   dir.string(), query, out_file)) == 0;
  }
  // Every process of the server at once, as a power-off kills them.
  void kill_all() {
    if (postmaster <= 0) return;
    ::kill(-postmaster, SIGKILL);
    reap_orphans(postmaster, kExitDeadline);
    postmaster = -1;
  }
  ~PgOnDisk() { kill_all(); }
};

}  // namespace

TEST_CASE("lab disk: PostgreSQL 15 runs on it and recovers its committed rows after a power-off", "[integration]") {
  if (const auto why = missing_fuse(); !why.empty()) HAVERIFY_SKIP(why);
  const passwd* pw = ::getpwnam("postgres");
  if (!pw || !fs::exists(kPgBin + "/initdb")) HAVERIFY_SKIP("no PostgreSQL 15 (" << kPgBin << ") or no user postgres");
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  // Only for this test: later tests of this process must not adopt (and never
  // reap) the orphans of their own children.
  struct NoSubreaperAfter {
    ~NoSubreaperAfter() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } no_subreaper_after;
  TempDir dir;
  fs::create_directories(dir.backing() / "pg");
  REQUIRE(::chown((dir.backing() / "pg").c_str(), pw->pw_uid, pw->pw_gid) == 0);
  REQUIRE(::chown(dir.path.c_str(), pw->pw_uid, pw->pw_gid) == 0);  // logs and the socket
  PgOnDisk pg{dir.path, dir.mnt() / "pg" / "data"};
  {
    LabDisk disk(dir, {"--profile", "ram"});
    // initdb with its fsyncs: files, directories, durable renames (link + unlink).
    REQUIRE(pg.as_postgres(fmt::format("{}/initdb -D {} -U postgres --auth=trust -E UTF8 --locale=C", kPgBin,
                                       pg.data.string())) == 0);
    REQUIRE(pg.start());
    REQUIRE(pg.sql("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)"));
    pg.kill_all();  // the power-off: the server and the disk at once
    disk.power_off();
  }
  LabDisk again(dir, {"--profile", "ram"});
  REQUIRE(pg.start());  // crash recovery from what the disk made durable
  const fs::path out = dir.path / "count.txt";
  REQUIRE(pg.sql("SELECT count(*) FROM t", out.string()));
  CHECK(slurp(out) == "100\n");
  CHECK(pg.as_postgres(fmt::format("{}/pg_ctl -D {} -w -t 60 -m fast stop", kPgBin, pg.data.string())) == 0);
  CHECK(reap_orphans(pg.postmaster, kExitDeadline));
  pg.postmaster = -1;
  CHECK(again.unmount() == 0);
  INFO(slurp(dir.path / "server.log"));
}
