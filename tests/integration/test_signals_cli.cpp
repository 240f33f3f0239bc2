// Ctrl-C and SIGTERM end every subcommand (issue 14): a command that injects
// nothing exits 3 at once, even while it waits on the network.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kBin = HAVERIFY_BIN;

// A loopback TCP port that completes the handshake (the kernel's backlog)
// but never says a word: an SSH client waits for the server's banner.
struct SilentPort {
  int fd = -1;
  int port = 0;
  SilentPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port = ntohs(a.sin_port);
  }
  ~SilentPort() {
    if (fd >= 0) ::close(fd);
  }
};

// Starts haverify with `args`; returns its pid.
pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kBin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(kBin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit status within `deadline`, or -1 (and the process is killed).
int wait_exit(pid_t pid, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(20ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

TEST_CASE("SIGINT and SIGTERM end `inventory check` while it waits for a silent SSH server", "[integration]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("haverify-it-signals-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  SilentPort silent;
  // A real key: haverify loads it before it connects.
  REQUIRE(std::system(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {}/key </dev/null", dir.string()).c_str()) == 0);
  std::ofstream(dir / "known_hosts") << "";
  std::ofstream(dir / "inv.yaml") << fmt::format(
      "ssh: {{user: root, key: {0}/key, known_hosts: {0}/known_hosts, port: {1}, connect_timeout_ms: 120000}}\n"
      "nodes:\n"
      "  - name: node1\n"
      "    ssh: {{host: 127.0.0.1}}\n"
      "    postgres: {{}}\n"
      "    power: {{controller: command, off: 'true', on: 'true', verify: none}}\n"
      "endpoint: {{kind: vip, host: 127.0.0.1}}\n",
      dir.string(), silent.port);
  for (const int sig : {SIGINT, SIGTERM}) {
    INFO("signal " << sig);
    const pid_t pid = spawn({"inventory", "check", (dir / "inv.yaml").string()});
    REQUIRE(pid > 0);
    std::this_thread::sleep_for(1500ms);  // connected, waiting for the banner
    int status = 0;
    REQUIRE(::waitpid(pid, &status, WNOHANG) == 0);  // still waiting: the signal is what ends it
    ::kill(pid, sig);
    CHECK(wait_exit(pid, 5s) == 3);
  }
  fs::remove_all(dir);
}
