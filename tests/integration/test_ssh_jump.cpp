// SSH through jump hosts (issue 17, ProxyJump done by haverify itself),
// against throwaway sshds on 127.0.0.1 (Lab, local_sshd.hpp): one and two
// hops carry commands and bulk data both ways, every hop's host key is
// checked against its own known_hosts, a jump host that may not forward and
// a silent node behind it are clear errors within the connect deadline, and
// nothing (threads, file descriptors) is left after a session ends.
#include <dirent.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "haverify/io/transport.hpp"
#include "local_sshd.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using haverify::ExecResult;
using haverify::SshTarget;
using haverify::SshTransport;
using haverify::testing::Lab;
using haverify::testing::SilentListener;
using haverify::testing::slurp;
using Clock = std::chrono::steady_clock;

namespace {

// The jump host: sshd logs each direct-tcpip request at DEBUG1.
Lab bastion() {
  return Lab({"LogLevel=DEBUG1", "AllowTcpForwarding=yes"});
}

// The node's target reached through `hops` (each a Lab acting as a jump host).
SshTarget through(const Lab& node, std::initializer_list<const Lab*> hops) {
  SshTarget t = node.target();
  for (const Lab* h : hops) t.jump.push_back(h->target());
  return t;
}

std::size_t entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

std::string connect_error(const SshTarget& t) {
  try {
    SshTransport s(t);
    s.connect();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

long ms_since(Clock::time_point t0) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

}  // namespace

TEST_CASE("ssh jump: one and two jump hosts carry commands, exit codes and bulk data both ways", "[ssh]") {
  Lab jump = bastion();
  Lab node;
  SECTION("one jump host") {
    SshTransport t(through(node, {&jump}));
    CHECK(t.describe() ==
          "ssh root@127.0.0.1:" + std::to_string(node.port) + " via root@127.0.0.1:" + std::to_string(jump.port));
    const ExecResult r = t.exec("echo ok; exit 3", 10s);
    INFO(r.error << r.err);
    CHECK(r.out == "ok\n");
    CHECK(r.exit_code == 3);
    // The jump host's sshd opened the node's port for us.
    CHECK_THAT(slurp(jump.log), Catch::Contains("target 127.0.0.1 port " + std::to_string(node.port)));
    // 4 MB down and 1 MB up through the pump (the SSH window fills and drains).
    const ExecResult down = t.exec("head -c 4000000 /dev/zero | tr '\\0' x", 30s);
    INFO(down.error << " exit " << down.exit_code << " " << down.err);
    CHECK(down.ok());
    CHECK(down.out.size() == 4000000);
    CHECK(down.out.find_first_not_of('x') == std::string::npos);
    const ExecResult up = t.exec_with_input("wc -c", std::string(1000000, 'y'), 30s);
    CHECK(up.out == "1000000\n");
    CHECK(t.connect_count() == 1);  // one session for all three
  }
  SECTION("two jump hosts (the second reached through the first)") {
    Lab second = bastion();
    SshTransport t(through(node, {&jump, &second}));
    const ExecResult r = t.exec("echo two", 10s);
    INFO(r.error << r.err);
    CHECK(r.out == "two\n");
    CHECK_THAT(slurp(jump.log), Catch::Contains("target 127.0.0.1 port " + std::to_string(second.port)));
    CHECK_THAT(slurp(second.log), Catch::Contains("target 127.0.0.1 port " + std::to_string(node.port)));
  }
}

TEST_CASE("ssh jump: each hop's host key is checked against its known_hosts, a refused forward says why", "[ssh]") {
  Lab jump = bastion();
  Lab node;
  SECTION("the jump host's key is unknown") {
    SshTarget t = through(node, {&jump});
    std::ofstream(t.jump[0].known_hosts).close();  // empty: the jump host is not listed
    const std::string e = connect_error(t);
    CHECK_THAT(e, Catch::Contains("127.0.0.1:" + std::to_string(jump.port)) && Catch::Contains("not listed"));
  }
  SECTION("the node's key changed") {
    node.write_known_hosts(node.other_key.string() + ".pub");
    const std::string e = connect_error(through(node, {&jump}));
    CHECK_THAT(e, Catch::Contains("does not match") &&
                      Catch::Contains("(via ssh root@127.0.0.1:" + std::to_string(jump.port) + ")"));
  }
  SECTION("the jump host may not forward") {
    Lab closed({"AllowTcpForwarding=no"});
    const std::string e = connect_error(through(node, {&closed}));
    CHECK_THAT(e, Catch::Contains("the jump host could not connect to 127.0.0.1:" + std::to_string(node.port)) &&
                      Catch::Contains("AllowTcpForwarding"));
  }
}

TEST_CASE("ssh jump: a silent node behind the jump host times out within connect_timeout, nothing is left", "[ssh]") {
  Lab jump = bastion();
  SilentListener silent;
  SshTarget t = jump.target(1500ms);
  t.port = silent.port;
  t.jump.push_back(jump.target());
  const std::size_t threads = entries("/proc/self/task"), fds = entries("/proc/self/fd");
  SshTransport s(t);
  const auto t0 = Clock::now();
  const ExecResult r = s.exec("true", 10s);
  const long took = ms_since(t0);
  CHECK_FALSE(r.ok());
  CHECK_THAT(r.error, Catch::Contains("timed out"));
  CHECK(took < 1500 + 1500);  // the whole chain's deadline, plus slack
  // Sessions through the jump host, opened and dropped: no thread or fd stays.
  Lab node;
  for (int i = 0; i < 5; ++i) {
    SshTransport n(through(node, {&jump}));
    CHECK(n.exec("true", 10s).ok());
  }
  s.disconnect();
  CHECK(entries("/proc/self/task") == threads);
  CHECK(entries("/proc/self/fd") == fds);
}
