// The maintenance workload looking for the node it acts on: with `via:
// primary` it probes until a node answers as primary or the op's deadline
// passes, and stop() ends that wait at once. The only node listens nowhere
// (a loopback port just closed), so no probe ever answers.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"
#include "haverify/workload/maintenance.hpp"

using namespace haverify;
using namespace std::chrono_literals;

namespace {

// A loopback TCP port that was free a moment ago and is closed now.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

Inventory nowhere() {
  Inventory inv;
  inv.file = "loopback";
  NodeSpec n;
  n.name = "node1";
  n.postgres.host = "127.0.0.1";
  n.postgres.port = closed_port();
  inv.nodes.push_back(n);
  return inv;
}

}  // namespace

TEST_CASE("maintenance via primary: no node answers within the op's deadline, and stop() ends the wait",
          "[integration]") {
  const Inventory inv = nowhere();
  History history;
  MaintenanceOptions o;
  o.via = "primary";
  SECTION("a foreground CHECKPOINT fails after its deadline, saying so") {
    o.deadline = 1500ms;
    MaintenanceWorkload m(inv, o, history);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(m.run_once("checkpoint", "", "", false));
    CHECK(std::chrono::steady_clock::now() - t0 >= 1000ms);  // it probed again, not once
    bool said = false;
    for (const auto& op : history.snapshot())
      if (op.process == "maintenance" && op.type == OpType::fail)
        said = op.error.find("no node answered as primary within 1500 ms") != std::string::npos;
    CHECK(said);
  }
  SECTION("a background CHECKPOINT waiting for a primary is given up by stop(), long before its deadline") {
    o.deadline = 120s;
    MaintenanceWorkload m(inv, o, history);
    CHECK(m.run_once("checkpoint", "", "", true));
    std::this_thread::sleep_for(700ms);
    const auto t0 = std::chrono::steady_clock::now();
    m.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    std::size_t failed = 0;
    for (const auto& op : history.snapshot()) failed += op.process == "maintenance" && op.type == OpType::fail;
    CHECK(failed == 1);
  }
}
