// t_detect from the managers' logs (cluster/detect.hpp) read over a
// throwaway sshd: the PostgreSQL nodes' logs and the pgpool host's (an aux
// node, driver.ssh_host), each matching line stamped after the fault.
#include <catch2/catch.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "haverify/cluster/detect.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/clock.hpp"
#include "local_sshd.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;

namespace {

// "2026-12-07 02:10:00.123" in local time, as pgpool's %m prints it.
std::string local_stamp(Nanos wall_ns) {
  const std::time_t s = static_cast<std::time_t>(wall_ns / 1'000'000'000);
  std::tm tm{};
  localtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03}", buf, (wall_ns / 1'000'000) % 1000);
}

}  // namespace

TEST_CASE("detect: the pgpool host's log is read too, after the fault only", "[ssh]") {
  Lab lab;
  TempDir dir;
  const std::string log = (dir.path / "pgpool.log").string();
  const Nanos since = wall_now_ns();
  {
    std::ofstream out(log);
    out << local_stamp(since - 60'000'000'000) << ": health_check0 pid 7: LOG:  health check failed on node 0\n"
        << local_stamp(since + 1'000'000'000) << ": main pid 9: LOG:  statement: show pool_nodes\n"
        << local_stamp(since + 2'000'000'000) << ": health_check0 pid 7: LOG:  health check failed on node 0 "
        << "(timeout:0)\n";
  }
  const std::string yaml = fmt::format(
      "name: loopback\nstack: loopback\n"
      "ssh: {{user: root, port: {}, key: {}, known_hosts: {}}}\n"
      "nodes:\n  - name: node1\n    ssh: {{host: 127.0.0.1}}\n    postgres: {{host: 127.0.0.1, port: 1}}\n"
      "    power: {{controller: command, run_on: local, off: \"false\", on: \"true\", status: \"echo on\"}}\n"
      "endpoint: {{kind: pgpool, host: 127.0.0.1, port: 9999}}\n"
      "driver: {{type: pgpool, pcp_host: 127.0.0.1, pcp_user: pcp, pcp_passfile: {}/pcppass, ssh_host: 127.0.0.1}}\n",
      lab.port, lab.client_key.string(), lab.known_hosts.string(), dir.path.string());
  std::ofstream(dir.path / "inventory.yaml") << yaml;
  const Inventory inv = load_inventory((dir.path / "inventory.yaml").string());
  REQUIRE(inv.aux_nodes.size() == 1);
  TransportPool pool(inv);

  const auto events = detect_from_logs(inv, pool, log, "health check failed", since, 20s);
  // The same file is node1's and the pool host's here (one sshd): one line each, the old one left out.
  REQUIRE(events.size() == 2);
  CHECK(std::any_of(events.begin(), events.end(), [](const DetectEvent& e) { return e.node == kPoolNode; }));
  CHECK(std::any_of(events.begin(), events.end(), [](const DetectEvent& e) { return e.node == "node1"; }));
  for (const auto& e : events) {
    CHECK(e.what.find("(timeout:0)") != std::string::npos);
    CHECK(e.wall_ns / 1'000'000 == (since + 2'000'000'000) / 1'000'000);
  }
}
