// haverify-lab-disk: a FUSE file system that serves a directory of the host
// (the backing store) at a mount point through a page cache of its own, so
// that killing the daemon (SIGKILL; a lab power-off kills the node's whole PID
// namespace) loses exactly what a power loss loses.
//
// Usage: haverify-lab-disk [options] BACKING MOUNTPOINT   (--help, --profiles)
//   or, as a mount helper: mount -t fuse.haverify-lab-disk BACKING MOUNTPOINT -o daemon,profile=hdd,...
//
// Semantics (docs/lab.md, "The lab disk"):
// - Data: a write goes to dirty 4 KiB pages in this process's memory, kept per
//   backing inode (renames and hard links share them), with a dup'd backing fd
//   per dirty inode so writeback works after rename, unlink or close. Reads see
//   the backing data overlaid with the dirty pages, up to the cached size.
//   Truncate and fallocate (mode 0: extend) change the cached size only.
// - Durable: fsync/fdatasync of a file (the same: no metadata is cached), a
//   write on an O_SYNC/O_DSYNC file, and a clean unmount write the dirty pages
//   and the size to the backing file. A directory fsync only costs a cache
//   flush: namespace operations (create, mkdir, rmdir, unlink, rename with its
//   flags, link, symlink, mknod, chmod, chown, utimens) are applied to the
//   backing store at once, as on a journaled file system mounted `dirsync`.
// - Background writeback as Linux's: every --dirty-writeback seconds (5) the
//   inodes dirty for --dirty-expire seconds (30) are written back; over
//   --dirty-limit-mb (256) of dirty pages a writer first writes back the
//   oldest dirty inodes.
// - Power-off = SIGKILL: whatever was not written back is gone; the backing
//   store holds what was made durable, and a new daemon starts with a cold
//   cache (a power-on).
// - --torn-pages: a disk without power-loss protection. Every write also
//   writes the first 512-byte sector of the last 4 KiB page it touched through
//   to the backing file at once (over bytes the file already holds), so after a
//   kill that page is half new and half old.
// - --profile ram|ssd|hdd|san: the cost of durability and of cold reads, on one
//   device queue (profile.hpp; --profiles prints the table).
// Not modelled: the device's own volatile write cache (written back = durable),
// metadata that is lost (namespace operations are durable at once), a rename
// over a file that forces its data (ext4's auto_da_alloc), ENOSPC from the
// cache (it surfaces at writeback), xattrs, file locks across mounts.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "lab/disk/fuse_ops.hpp"

namespace {

using namespace haverify::labdisk;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;    // bad arguments, backing store or mount point
constexpr int kExitFailure = 3;  // the mount or the unmount's writeback failed
constexpr int kDaemonReadyTimeoutMs = 10'000;

// A usage error: printed with what to do, exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The options as fuse_opt_parse fills them (strings malloc'ed by libfuse).
struct RawOptions {
  char* profile;
  char* dirty_expire;
  char* dirty_writeback;
  char* dirty_limit_mb;
  char* log;
  char* pid_file;
  int torn_pages;
  int daemon;
  int help;
  int profiles;
  char* backing;
  char* mountpoint;
};

// Frees what libfuse allocated into RawOptions.
struct RawOptionsOwner {
  RawOptions o{};
  ~RawOptionsOwner() {
    for (char* p :
         {o.profile, o.dirty_expire, o.dirty_writeback, o.dirty_limit_mb, o.log, o.pid_file, o.backing, o.mountpoint})
      std::free(p);
  }
};

// fuse_args, freed on scope exit.
struct ArgsOwner {
  fuse_args args;
  ~ArgsOwner() { fuse_opt_free_args(&args); }
};

#define OPT(t, field, value)              \
  fuse_opt {                              \
    t, offsetof(RawOptions, field), value \
  }
const fuse_opt kOptionSpec[] = {
    OPT("profile=%s", profile, 0),
    OPT("--profile=%s", profile, 0),
    OPT("--profile %s", profile, 0),
    OPT("dirty_expire=%s", dirty_expire, 0),
    OPT("--dirty-expire=%s", dirty_expire, 0),
    OPT("--dirty-expire %s", dirty_expire, 0),
    OPT("dirty_writeback=%s", dirty_writeback, 0),
    OPT("--dirty-writeback=%s", dirty_writeback, 0),
    OPT("--dirty-writeback %s", dirty_writeback, 0),
    OPT("dirty_limit_mb=%s", dirty_limit_mb, 0),
    OPT("--dirty-limit-mb=%s", dirty_limit_mb, 0),
    OPT("--dirty-limit-mb %s", dirty_limit_mb, 0),
    OPT("log=%s", log, 0),
    OPT("--log=%s", log, 0),
    OPT("--log %s", log, 0),
    OPT("pid_file=%s", pid_file, 0),
    OPT("--pid-file=%s", pid_file, 0),
    OPT("--pid-file %s", pid_file, 0),
    OPT("torn_pages", torn_pages, 1),
    OPT("--torn-pages", torn_pages, 1),
    OPT("daemon", daemon, 1),
    OPT("--daemon", daemon, 1),
    OPT("-h", help, 1),
    OPT("--help", help, 1),
    OPT("--profiles", profiles, 1),
    FUSE_OPT_KEY("-f", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("foreground", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_END,
};
#undef OPT

// The two positional arguments; anything else unmatched goes to FUSE.
int take_positional(void* data, const char* arg, int key, fuse_args*) {
  if (key != FUSE_OPT_KEY_NONOPT) return 1;
  auto* o = static_cast<RawOptions*>(data);
  char*& slot = !o->backing ? o->backing : o->mountpoint;
  if (o->mountpoint) {
    std::fprintf(stderr, "haverify-lab-disk: unexpected argument '%s' (usage: --help)\n", arg);
    return -1;
  }
  slot = ::strdup(arg);
  return 0;
}

constexpr const char* kUsage = R"(usage: haverify-lab-disk [options] BACKING MOUNTPOINT
Serves the directory BACKING at MOUNTPOINT (an empty directory) through a page
cache of its own: killing this process loses what a power loss loses.
Options (each also as -o name=value, as a mount helper gets them):
  --profile NAME          ram|ssd|hdd|san: the cost of fsync and cold reads (default ram)
  --profiles              print the profiles' figures and exit
  --torn-pages            writes tear: a killed write leaves its last page half new (-o torn_pages)
  --dirty-expire S        background writeback of data dirty this long (default 30; -o dirty_expire=S)
  --dirty-writeback S     the background writeback's interval (default 5; -o dirty_writeback=S)
  --dirty-limit-mb N      dirty pages over N MiB: a writer writes back first (default 256)
  --daemon                detach once the mount is up (-o daemon; a mount helper needs it)
  --pid-file FILE         the serving process's pid, written before --daemon returns
  --log FILE              log lines to FILE (appended) instead of stderr (lost with --daemon)
  -d, -o OPTION           passed to FUSE (allow_other,default_permissions are always on)
Exit: 0 unmounted cleanly; 2 bad usage, backing store or mount point; 3 mount or writeback failed.
)";

// Seconds as a decimal ("30", "0.5"), >= min_s.
Nanos parse_seconds(const char* text, const char* what, double min_s) {
  double v = 0;
  const char* end = text + std::strlen(text);
  const auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || p != end || v < min_s || v > 1e6)
    throw UsageError(std::string(what) + " '" + text + "': expected seconds, a number >= " +
                     std::to_string(static_cast<int>(min_s)) + " (e.g. 30 or 0.5)");
  return static_cast<Nanos>(v * 1e9);
}

std::uint64_t parse_mib(const char* text) {
  std::uint64_t v = 0;
  const char* end = text + std::strlen(text);
  const auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || p != end || v < 1 || v > (1u << 20))
    throw UsageError(std::string("--dirty-limit-mb '") + text + "': expected a whole number of MiB, 1 to 1048576");
  return v << 20;
}

// BACKING and MOUNTPOINT: existing directories, the mount point empty and
// outside the backing store.
std::pair<std::string, std::string> check_paths(const char* backing, const char* mountpoint) {
  if (!backing || !mountpoint) throw UsageError("expected BACKING and MOUNTPOINT (usage: --help)");
  std::error_code ec;
  if (!fs::is_directory(backing, ec))
    throw UsageError(std::string("backing store '") + backing + "' is not a directory (create it first)");
  if (!fs::is_directory(mountpoint, ec))
    throw UsageError(std::string("mount point '") + mountpoint + "' is not a directory (create it first)");
  const fs::path b = fs::canonical(backing), m = fs::canonical(mountpoint);
  const auto [mb, bb] = std::mismatch(m.begin(), m.end(), b.begin(), b.end());
  if (bb == b.end())
    throw UsageError("mount point '" + m.string() + "' is the backing store '" + b.string() +
                     "' or inside it: use a directory outside it");
  if (!fs::is_empty(m, ec) || ec)
    throw UsageError("mount point '" + m.string() +
                     "' is not empty (a dead lab disk still mounted there? fusermount3 -u -z it)");
  return {b.string(), m.string()};
}

struct Settings {
  const DiskProfile* profile = nullptr;
  CacheOptions cache;
  Nanos writeback = 5'000'000'000;  // Linux dirty_writeback_centisecs = 500
  std::string describe;
};

Settings settings_from(const RawOptions& o) {
  Settings s;
  s.profile = find_profile(o.profile ? o.profile : "ram");
  if (!s.profile)
    throw UsageError(std::string("unknown profile '") + o.profile + "': one of ram, ssd, hdd, san (--profiles)");
  if (o.dirty_expire) s.cache.dirty_expire = parse_seconds(o.dirty_expire, "--dirty-expire", 0);
  if (o.dirty_writeback) s.writeback = parse_seconds(o.dirty_writeback, "--dirty-writeback", 0.001);
  if (o.dirty_limit_mb) s.cache.dirty_limit_bytes = parse_mib(o.dirty_limit_mb);
  s.cache.torn_pages = o.torn_pages != 0;
  char line[256];
  std::snprintf(line, sizeof line,
                "profile %s, torn pages %s, dirty expire %.3g s, writeback every %.3g s, "
                "dirty limit %llu MiB",
                std::string(s.profile->name).c_str(), s.cache.torn_pages ? "on" : "off", s.cache.dirty_expire / 1e9,
                s.writeback / 1e9, static_cast<unsigned long long>(s.cache.dirty_limit_bytes >> 20));
  s.describe = line;
  return s;
}

// Every dirty inode holds a backing fd: raise the fd limit and stay well under it.
std::size_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 256;
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  const rlim_t half = r.rlim_cur / 2;
  return static_cast<std::size_t>(half < 16 ? 16 : (half > 65536 ? 65536 : half));
}

bool pid_file_written(const char* path) {
  const std::string text = std::to_string(::getpid()) + "\n";
  UniqueFd fd(::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() >= 0 && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size())) return true;
  std::fprintf(stderr, "haverify-lab-disk: cannot write the pid file '%s': %s\n", path, std::strerror(errno));
  return false;
}

// --daemon: the parent returns once the child (which serves the mount) has
// written its pid file, or fails; the mount exists before the fork.
bool detach(const char* pid_file, int ready_timeout_ms) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid > 0) {
    wr.reset();
    pollfd p{rd.get(), POLLIN, 0};
    char ok = 0;
    if (::poll(&p, 1, ready_timeout_ms) != 1 || ::read(rd.get(), &ok, 1) != 1 || ok != 1) {
      std::fprintf(stderr, "haverify-lab-disk: the daemon did not start (see its --log)\n");
      std::_Exit(kExitFailure);
    }
    std::_Exit(kExitOk);
  }
  rd.reset();
  ::setsid();
  if (pid_file && !pid_file_written(pid_file)) std::_Exit(kExitFailure);
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null.get(), fd);
  const char ok = 1;
  return ::write(wr.get(), &ok, 1) == 1;
}

struct FuseDestroy {
  void operator()(fuse* f) const { fuse_destroy(f); }  // runs the destroy operation (writeback) if it was mounted
};
struct LoopConfigDestroy {
  void operator()(fuse_loop_config* c) const { fuse_loop_cfg_destroy(c); }
};

// Mounts, detaches if asked, serves until unmounted or signalled (SIGTERM,
// SIGINT, SIGHUP: a clean unmount), then writes everything back.
int serve(fuse_args& args, Disk& disk, bool daemon, const char* pid_file) {
  std::unique_ptr<fuse, FuseDestroy> f(fuse_new(&args, &disk_operations(), sizeof(fuse_operations), &disk));
  if (!f) throw UsageError("FUSE did not accept the options (its message is above; usage: --help)");
  if (fuse_mount(f.get(), disk.mountpoint.c_str()) != 0) {
    disk.log("cannot mount " + disk.mountpoint + " (root and /dev/fuse needed; fuse3 installed?)");
    return kExitFailure;
  }
  const bool ready = daemon ? detach(pid_file, kDaemonReadyTimeoutMs) : (!pid_file || pid_file_written(pid_file));
  fuse_session* se = fuse_get_session(f.get());
  int rc = -1;
  if (ready && fuse_set_signal_handlers(se) == 0) {
    std::unique_ptr<fuse_loop_config, LoopConfigDestroy> config(fuse_loop_cfg_create());
    rc = fuse_loop_mt(f.get(), config.get());
    fuse_remove_signal_handlers(se);
  }
  if (rc > 0) disk.log("stopped by signal " + std::to_string(rc) + ": unmounting cleanly");
  if (rc < 0) disk.log("serving " + disk.mountpoint + " failed: " + std::strerror(-rc));
  fuse_unmount(f.get());
  f.reset();
  return rc >= 0 && disk.failed_at_unmount == 0 ? kExitOk : kExitFailure;
}

// fsname= is one -o option: its commas and backslashes are escaped.
std::string escape_option(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int run(int argc, char** argv) {
  RawOptionsOwner raw;
  ArgsOwner a{FUSE_ARGS_INIT(argc, argv)};
  if (fuse_opt_parse(&a.args, &raw.o, kOptionSpec, take_positional) != 0)
    throw UsageError("bad arguments (usage: --help)");
  if (raw.o.help) return std::fputs(kUsage, stdout) >= 0 ? kExitOk : kExitFailure;
  if (raw.o.profiles) return std::fputs(profile_table().c_str(), stdout) >= 0 ? kExitOk : kExitFailure;
  Settings s = settings_from(raw.o);
  auto [backing, mountpoint] = check_paths(raw.o.backing, raw.o.mountpoint);
  UniqueFd log_fd;
  if (raw.o.log) {
    log_fd = UniqueFd(::open(raw.o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log_fd.get() < 0)
      throw UsageError(std::string("cannot open the log file '") + raw.o.log + "': " + std::strerror(errno));
  }
  Log log(std::move(log_fd));
  UniqueFd root(::open(backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw UsageError("cannot open the backing store '" + backing + "': " + std::strerror(errno));
  s.cache.max_dirty_inodes = raise_fd_limit();
  s.cache.log = [&log](const std::string& what) { log(what); };
  ::umask(0);  // the kernel applied the caller's umask to the modes we get
  Disk disk(std::move(root), backing, mountpoint, *s.profile, s.cache, s.writeback, log);
  disk.settings = s.describe;
  const std::string mount_options =
      "allow_other,default_permissions,fsname=" + escape_option(backing) + ",subtype=haverify-lab-disk";
  if (fuse_opt_add_arg(&a.args, "-o") != 0 || fuse_opt_add_arg(&a.args, mount_options.c_str()) != 0)
    throw std::runtime_error("out of memory");
  return serve(a.args, disk, raw.o.daemon != 0, raw.o.pid_file);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "haverify-lab-disk: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "haverify-lab-disk: %s\n", e.what());
    return kExitFailure;
  }
}
