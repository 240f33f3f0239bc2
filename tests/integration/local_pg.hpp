#pragma once
#include "skip.hpp"
// Test helpers for the loopback integration tests: socket helpers and
// LocalPg, a throwaway PostgreSQL 15 (initdb + pg_ctl into a temp dir,
// loopback only). Needs the server binaries (default
// /usr/lib/postgresql/15/bin, override with HAVERIFY_PG_BINDIR) and either
// root (the server then runs as user postgres through runuser) or a non-root
// user that may run initdb itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "haverify/io/pg.hpp"

namespace haverify::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Owns a socket fd.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// A bound (and optionally listening) TCP socket on 127.0.0.1 with a kernel-chosen port.
inline Fd bind_loopback(int* port, bool listen_too) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  if (fd.get() < 0) return Fd();
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  if (listen_too && ::listen(fd.get(), 16) != 0) return Fd();
  return fd;
}

inline int free_port() {
  int port = 0;
  Fd fd = bind_loopback(&port, false);
  return port;  // closed on return; small reuse race accepted for tests
}

// A throwaway PostgreSQL server. The destructor stops it (immediate) and
// removes its directory, whatever happened in the test.
class LocalPg {
 public:
  LocalPg() : LocalPg(std::string("127.0.0.1")) {}
  // A server listening on `listen_addresses` (e.g. "127.0.0.1,127.0.0.2":
  // one server reachable at two addresses).
  explicit LocalPg(std::string listen_addresses) : listen_(std::move(listen_addresses)) {
    if (!make_dir()) return;
    const std::string initdb =
        fmt::format("{}/initdb -D {}/data -U postgres --auth=trust -E UTF8 --no-sync --locale=C", bindir_, dir_);
    if (run(initdb) != 0) {
      why_ = "initdb failed, see " + log();
      return;
    }
    if (!start()) {
      why_ = "pg_ctl start failed, see " + log();
      return;
    }
    ready_ = true;
  }

  // A streaming standby of `primary` (a fresh base backup of it, with
  // standby.signal and primary_conninfo naming it `app_name`), started.
  // Call primary.settings_in_files() first so that the copy starts as itself.
  LocalPg(const LocalPg& primary, const std::string& app_name) {
    if (!primary.ready()) {
      why_ = "the primary is not ready: " + primary.why();
      return;
    }
    if (!make_dir()) return;
    const std::string conninfo =
        fmt::format("host=127.0.0.1 port={} user=postgres application_name={}", primary.port(), app_name);
    if (run(fmt::format("{}/pg_basebackup -D {}/data -X stream -c fast -d '{}'", bindir_, dir_, conninfo)) != 0) {
      why_ = "pg_basebackup failed, see " + log();
      return;
    }
    std::ofstream(data_dir() + "/postgresql.auto.conf", std::ios::app) << "primary_conninfo = '" << conninfo << "'\n";
    std::ofstream(data_dir() + "/standby.signal");
    if (!write_node_conf() || !start()) {
      why_ = "the standby did not start, see " + log();
      return;
    }
    ready_ = true;
  }

  ~LocalPg() {
    if (!dir_.empty()) {
      if (fs::exists(fs::path(dir_) / "data" / "postmaster.pid")) stop_immediate();
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  LocalPg(const LocalPg&) = delete;
  LocalPg& operator=(const LocalPg&) = delete;

  bool ready() const { return ready_; }
  const std::string& why() const { return why_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  const std::string& bindir() const { return bindir_; }

  // Moves this server's own settings (port, address, socket directory) from
  // the pg_ctl command line into <dir>/node.conf, which postgresql.conf
  // includes as '../node.conf' (a base backup copies postgresql.conf but not
  // the file beside the data directory), with wal_log_hints for pg_rewind;
  // then restarts the server. A plain `pg_ctl start`, as the drivers run it,
  // then starts it as itself.
  bool settings_in_files() {
    if (!write_node_conf()) return false;
    std::ofstream(data_dir() + "/postgresql.conf", std::ios::app) << "include_if_exists = '../node.conf'\n";
    return run(fmt::format("{}/pg_ctl -D {}/data -w -t 60 -m fast stop", bindir_, dir_)) == 0 && start();
  }

  bool start() {
    return run(fmt::format("{}/pg_ctl -D {}/data -l {}/server.log -w -t 60 -o \"-c port={} "
                           "-c listen_addresses={} -c unix_socket_directories={} "
                           "-c max_connections=60\" start",
                           bindir_, dir_, dir_, port_, listen_, dir_)) == 0;
  }
  bool stop_immediate() {
    return run(fmt::format("{}/pg_ctl -D {}/data -w -t 60 -m immediate stop", bindir_, dir_)) == 0;
  }

  PgTarget target() const {
    PgTarget t;
    t.host = "127.0.0.1";
    t.port = std::to_string(port_);
    t.user = "postgres";
    t.dbname = "postgres";
    return t;
  }

 private:
  // The temp dir (owned by postgres when running as root) and the binaries.
  bool make_dir() {
    const char* env = std::getenv("HAVERIFY_PG_BINDIR");
    bindir_ = env && *env ? env : "/usr/lib/postgresql/15/bin";
    if (!fs::exists(fs::path(bindir_) / "initdb")) {
      why_ = "no initdb in " + bindir_;
      return false;
    }
    as_root_ = ::geteuid() == 0;
    if (as_root_ && !::getpwnam("postgres")) {
      why_ = "running as root but there is no user postgres";
      return false;
    }
    std::string tmpl = (fs::temp_directory_path() / "haverify-pg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      why_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    if (as_root_) {
      const passwd* pw = ::getpwnam("postgres");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        why_ = "chown failed";
        return false;
      }
    }
    port_ = free_port();
    return true;
  }
  bool write_node_conf() const {
    std::ofstream out(dir_ + "/node.conf");
    out << fmt::format(
        "port = {}\nlisten_addresses = '{}'\nunix_socket_directories = '{}'\nmax_connections = 60\n"
        "wal_log_hints = on\n",
        port_, listen_, dir_);
    return static_cast<bool>(out);
  }
  std::string log() const { return dir_ + "/commands.log"; }
  int run(const std::string& cmd) const {
    const std::string prefix = as_root_ ? "runuser -u postgres -- " : "";
    const std::string full = fmt::format("{}{} >>{} 2>&1", prefix, cmd, log());
    return std::system(full.c_str());
  }

  std::string bindir_;
  std::string dir_;
  std::string why_;
  std::string listen_ = "127.0.0.1";
  int port_ = 0;
  bool as_root_ = false;
  bool ready_ = false;
};

// No local PostgreSQL (initdb or pg_ctl start failed, no binaries): a
// failure in CI, a skip elsewhere (skip.hpp), never a pass.
#define REQUIRE_LOCAL_PG(pg)                                                 \
  do {                                                                       \
    if (!(pg).ready()) HAVERIFY_SKIP("no local PostgreSQL: " << (pg).why()); \
  } while (0)

}  // namespace haverify::testing
