// SSH authentication as OpenSSH users have it (issue 17), against a
// throwaway sshd on 127.0.0.1 (Lab, local_sshd.hpp): an encrypted key with
// its passphrase from an environment variable, and a real ssh-agent; each
// refusal says what failed and what to do, and none waits for a person.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"
#include "local_sshd.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using haverify::SshTarget;
using haverify::SshTransport;
using haverify::testing::Lab;
using haverify::testing::run_or_fail;

namespace {

// The message of connect()'s exception, or "" when it connected.
std::string connect_error(const SshTarget& t) {
  try {
    SshTransport s(t);
    s.connect();
    return s.exec("echo ok", 5000ms).out == "ok\n" ? "" : "connected, but echo failed";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// An encrypted key (OpenSSH format, or PEM with -m PEM) authorised on `lab`.
fs::path encrypted_key(Lab& lab, const std::string& name, const std::string& extra) {
  const fs::path k = lab.dir.path / name;
  run_or_fail("ssh-keygen -q " + extra + " -N 'correct horse' -C haverify-test -f '" + k.string() + "'");
  std::ofstream(lab.authorized_keys, std::ios::app) << haverify::testing::slurp(k.string() + ".pub");
  return k;
}

// A variable set for one test case, removed after.
struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

// A real ssh-agent on a socket in the test's directory, killed by PID.
struct Agent {
  fs::path sock;
  pid_t pid = -1;
  explicit Agent(const fs::path& dir) : sock(dir / "agent.sock") {
    pid = ::fork();
    if (pid == 0) {
      const int nul = ::open("/dev/null", O_WRONLY);
      if (nul >= 0) ::dup2(nul, 1);  // -D prints the variables to set
      ::execlp("ssh-agent", "ssh-agent", "-D", "-a", sock.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 300 && !fs::exists(sock); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(fs::exists(sock));
  }
  void add(const fs::path& key) {
    run_or_fail("SSH_AUTH_SOCK='" + sock.string() + "' ssh-add -q '" + key.string() + "' 2>/dev/null");
  }
  ~Agent() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("ssh: an encrypted key is opened with the passphrase from the variable the inventory names", "[ssh]") {
  Lab lab;
  SshTarget t = lab.target();
  t.key_file = encrypted_key(lab, "enc_ed25519", "-t ed25519").string();
  t.passphrase_env = "HAVERIFY_TEST_PASSPHRASE";
  SECTION("right passphrase: connects") {
    EnvVar v("HAVERIFY_TEST_PASSPHRASE", "correct horse");
    CHECK(connect_error(t).empty());
  }
  SECTION("wrong passphrase: refused, naming the variable") {
    EnvVar v("HAVERIFY_TEST_PASSPHRASE", "battery staple");
    const std::string e = connect_error(t);
    CHECK(e.find("with the passphrase from $HAVERIFY_TEST_PASSPHRASE (wrong passphrase") != std::string::npos);
  }
  SECTION("variable not set: says so, never prompts") {
    ::unsetenv("HAVERIFY_TEST_PASSPHRASE");
    CHECK(connect_error(t).find("HAVERIFY_TEST_PASSPHRASE, which is not set") != std::string::npos);
  }
  SECTION("no passphrase_env for an encrypted key: points at it, never prompts") {
    t.passphrase_env.clear();
    CHECK(connect_error(t).find("passphrase-protected: name the variable") != std::string::npos);
  }
}

TEST_CASE("ssh: a PEM key (OpenSSL's format) with its passphrase connects, without it fails without a prompt",
          "[ssh]") {
  Lab lab;
  SshTarget t = lab.target();
  t.key_file = encrypted_key(lab, "enc_ecdsa.pem", "-t ecdsa -m PEM").string();
  t.passphrase_env = "HAVERIFY_TEST_PASSPHRASE";
  EnvVar v("HAVERIFY_TEST_PASSPHRASE", "correct horse");
  CHECK(connect_error(t).empty());
  t.passphrase_env.clear();
  CHECK(connect_error(t).find("passphrase-protected") != std::string::npos);
}

TEST_CASE("ssh: the ssh-agent's keys authenticate, and no agent, an empty agent or a mute one is a clear error",
          "[ssh]") {
  Lab lab;
  SshTarget t = lab.target();
  t.agent = true;
  t.key_file.clear();
  Agent agent(lab.dir.path);
  SECTION("the agent holds the authorised key") {
    agent.add(lab.client_key);
    EnvVar v("SSH_AUTH_SOCK", agent.sock.string());
    CHECK(connect_error(t).empty());
  }
  SECTION("the agent holds only a key the node does not accept; the key file is tried next") {
    agent.add(lab.other_key);
    EnvVar v("SSH_AUTH_SOCK", agent.sock.string());
    CHECK(connect_error(t).find("denied for the 1 key(s) of the ssh-agent") != std::string::npos);
    t.key_file = lab.client_key.string();
    CHECK(connect_error(t).empty());
  }
  SECTION("an empty agent") {
    EnvVar v("SSH_AUTH_SOCK", agent.sock.string());
    CHECK(connect_error(t).find("holds no key; ssh-add one") != std::string::npos);
  }
  SECTION("SSH_AUTH_SOCK not set") {
    ::unsetenv("SSH_AUTH_SOCK");
    CHECK(connect_error(t).find("SSH_AUTH_SOCK is not") != std::string::npos);
  }
  SECTION("an agent that accepts the connection and never answers: refused within the connect deadline") {
    const fs::path mute = lab.dir.path / "mute.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", mute.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 4) == 0);  // the kernel accepts; nobody reads
    EnvVar v("SSH_AUTH_SOCK", mute.string());
    t.connect_timeout = 1500ms;
    CHECK(connect_error(t).find("did not list its keys within the connect deadline") != std::string::npos);
    ::close(fd);
  }
}

TEST_CASE("ssh: an inventory whose hosts are aliases of an OpenSSH config file connects through them", "[ssh]") {
  Lab lab;
  const auto cfg = lab.dir.path / "ssh_config";
  std::ofstream(cfg) << "Host hvt-node1\n  HostName 127.0.0.1\n  Port " << lab.port << "\n  User root\n  IdentityFile "
                     << lab.client_key.string() << "\n";
  const std::string yaml = "name: t\nstack: generic\nssh: {config: " + cfg.string() +
                           ", known_hosts: " + lab.known_hosts.string() +
                           "}\n"
                           "nodes:\n"
                           "  - {name: node1, ssh: {host: hvt-node1}, postgres: {host: 127.0.0.1}, power: {controller: "
                           "command, off: 'true', on: 'true', verify: none}}\n"
                           "endpoint: {kind: vip, host: 127.0.0.1}\ndriver: {type: generic}\n";
  const haverify::Inventory inv = haverify::parse_inventory(yaml, "inv.yaml");
  const SshTarget& t = inv.nodes[0].ssh;
  CHECK(t.host == "127.0.0.1");
  CHECK(t.port == lab.port);
  CHECK(t.key_file == lab.client_key.string());
  SshTransport ssh(t);
  const auto r = ssh.exec("echo via-alias", 10000ms);
  INFO(haverify::describe(r) << "\nsshd log:\n" << haverify::testing::slurp(lab.log));
  CHECK(r.ok());
  CHECK(r.out == "via-alias\n");
}
