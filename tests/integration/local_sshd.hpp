#pragma once
// Test helper for the loopback integration tests: a throwaway sshd on
// 127.0.0.1 with its own host key, client key and known_hosts, in a temp dir.
// Needs root (sshd privilege separation), /usr/sbin/sshd and ssh-keygen. The
// sshd is killed by PID in the destructor.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "haverify/io/transport.hpp"

namespace haverify::testing {

namespace sshd_detail {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using haverify::SshTarget;

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void run_or_fail(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) FAIL("command failed (" << rc << "): " << cmd);
}

// bind() (port free?) or connect() (listening?) a TCP socket on 127.0.0.1:port.
template <typename Op>
inline bool on_loopback_port(int port, Op op) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = op(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}
inline bool tcp_port_free(int port) {
  return on_loopback_port(port, ::bind);
}
inline bool tcp_connects(int port) {
  return on_loopback_port(port, ::connect);
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "haverify-ssh-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    if (std::getenv("HAVERIFY_TEST_KEEP") != nullptr) return;  // to read a failed test's files
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A listening TCP socket on 127.0.0.1 that never accepts nor speaks: the
// kernel completes the handshake, then silence (like a wedged node).
struct SilentListener {
  int fd = -1;
  int port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
      throw std::runtime_error("cannot open silent listener");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() {
    if (fd >= 0) ::close(fd);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
};

// Throwaway sshd + keys. Killed by PID in the destructor.
class Lab {
 public:
  TempDir dir;
  fs::path host_key, client_key, other_key, known_hosts, authorized_keys, log;
  int port = 0;
  pid_t sshd_pid = -1;

  // extra_options: more `-o Key=value` settings of the sshd (a jump host's
  // AllowTcpForwarding, LogLevel).
  explicit Lab(std::vector<std::string> extra_options = {}) : extra_options_(std::move(extra_options)) {
    host_key = dir.path / "host_ed25519";
    client_key = dir.path / "client_ed25519";
    other_key = dir.path / "other_ed25519";
    known_hosts = dir.path / "known_hosts";
    authorized_keys = dir.path / "authorized_keys";
    log = dir.path / "sshd.log";
    for (const auto& k : {host_key, client_key, other_key})
      run_or_fail("ssh-keygen -q -t ed25519 -N '' -C haverify-test -f '" + k.string() + "'");
    fs::copy_file(client_key.string() + ".pub", authorized_keys);
    ::mkdir("/run/sshd", 0755);  // sshd's privilege-separation dir (may be absent)
    start_sshd();
    write_known_hosts(host_key.string() + ".pub");
  }
  ~Lab() { stop_sshd(); }
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  // known_hosts with `pub`'s key for [127.0.0.1]:port (host name overridable).
  void write_known_hosts(const std::string& pub, const std::string& host = "127.0.0.1") {
    std::istringstream in(slurp(pub));
    std::string type, blob;
    in >> type >> blob;
    std::ofstream(known_hosts) << "[" << host << "]:" << port << " " << type << " " << blob << "\n";
  }

  SshTarget target(std::chrono::milliseconds connect_timeout = 3000ms) const {
    SshTarget t;
    t.host = "127.0.0.1";
    t.port = port;
    t.user = "root";
    t.key_file = client_key.string();
    t.known_hosts = known_hosts.string();
    t.connect_timeout = connect_timeout;
    return t;
  }

  void stop_sshd() {
    if (sshd_pid <= 0) return;
    ::kill(sshd_pid, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(sshd_pid, nullptr, WNOHANG) == sshd_pid) {
        sshd_pid = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(sshd_pid, SIGKILL);
    ::waitpid(sshd_pid, nullptr, 0);
    sshd_pid = -1;
  }

 private:
  std::vector<std::string> extra_options_;

  void start_sshd() {
    std::mt19937 rng(std::random_device{}());
    const int base = 22000 + static_cast<int>(rng() % 900);
    for (int attempt = 0; attempt < 20; ++attempt) {
      const int p = base + attempt * 5;
      if (!tcp_port_free(p)) continue;
      port = p;
      if (spawn_sshd()) return;
    }
    FAIL("could not start sshd; last log:\n" << slurp(log));
  }

  bool spawn_sshd() {
    std::vector<std::string> args = {
        "/usr/sbin/sshd",
        "-D",
        "-e",
        "-f",
        "/dev/null",
        "-o",
        "Port=" + std::to_string(port),
        "-o",
        "ListenAddress=127.0.0.1",
        "-o",
        "HostKey=" + host_key.string(),
        "-o",
        "AuthorizedKeysFile=" + authorized_keys.string(),
        "-o",
        "PidFile=none",
        "-o",
        "UsePAM=no",
        "-o",
        "StrictModes=no",
        "-o",
        "PermitRootLogin=prohibit-password",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        "-o",
        "LogLevel=VERBOSE",
    };
    // Before the defaults: sshd keeps the first value of a key.
    for (auto o = extra_options_.rbegin(); o != extra_options_.rend(); ++o) args.insert(args.begin() + 5, {"-o", *o});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = log.string();
    // The sessions' shell is the user's login shell; bash run by sshd reads
    // ~/.bashrc even for `bash -c` (Debian's SSH_SOURCE_BASHRC), and a slow
    // one (pyenv init: about 1 s) makes every exec cost that. A lab node has
    // its own empty /root; this sshd gets the same: a private mount namespace
    // with ~/.bashrc masked by /dev/null (when there is one and we may).
    const passwd* pw = ::getpwuid(::getuid());
    const std::string bashrc = std::string(pw && pw->pw_dir ? pw->pw_dir : "/root") + "/.bashrc";
    const bool mask_bashrc = ::access(bashrc.c_str(), F_OK) == 0;
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int nul = ::open("/dev/null", O_RDONLY);
      if (nul >= 0) ::dup2(nul, 0);
      if (mask_bashrc && ::unshare(CLONE_NEWNS) == 0 &&
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0)
        ::mount("/dev/null", bashrc.c_str(), nullptr, MS_BIND, nullptr);  // best effort: else a slower sshd
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    sshd_pid = pid;
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < 5s) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {  // died (port race?)
        sshd_pid = -1;
        return false;
      }
      if (tcp_connects(port)) return true;
      std::this_thread::sleep_for(10ms);
    }
    stop_sshd();
    return false;
  }
};

}  // namespace sshd_detail

using sshd_detail::Lab;
using sshd_detail::run_or_fail;
using sshd_detail::SilentListener;
using sshd_detail::slurp;
using sshd_detail::TempDir;

}  // namespace haverify::testing
