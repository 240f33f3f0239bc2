// What haverify reads from pgpool hosts, over a throwaway sshd: t_detect
// from the logs (cluster/detect.hpp) of the PostgreSQL nodes and of the
// pgpool host (an aux node, driver.ssh_host), each matching line stamped
// after the fault; and who holds a watchdog's delegate IP (cluster/vip.hpp),
// asked directly and sampled by the role prober (127.0.0.1 is "held" here:
// lo has it).
#include <catch2/catch.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "haverify/cluster/detect.hpp"
#include "haverify/cluster/role_prober.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/cluster/vip.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/op.hpp"
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

std::string inventory_yaml(const Lab& lab, const TempDir& dir, const std::string& extra = "") {
  return fmt::format(
      "name: loopback\nstack: loopback\n"
      "ssh: {{user: root, port: {}, key: {}, known_hosts: {}}}\n"
      "nodes:\n  - name: node1\n    ssh: {{host: 127.0.0.1}}\n    postgres: {{host: 127.0.0.1, port: 1}}\n"
      "    power: {{controller: command, run_on: local, off: \"false\", on: \"true\", status: \"echo on\"}}\n"
      "endpoint: {{kind: pgpool, host: 127.0.0.1, port: 9999}}\n"
      "driver: {{type: pgpool, pcp_host: 127.0.0.1, pcp_user: pcp, pcp_passfile: {}/pcppass, ssh_host: 127.0.0.1{}}}\n",
      lab.port, lab.client_key.string(), lab.known_hosts.string(), dir.path.string(), extra);
}

Inventory load(const TempDir& dir, const std::string& yaml) {
  std::ofstream(dir.path / "inventory.yaml") << yaml;
  return load_inventory((dir.path / "inventory.yaml").string());
}

}  // namespace

TEST_CASE("vip: the holder is asked over SSH, and the prober records each change", "[ssh]") {
  Lab lab;
  TempDir dir;
  const Inventory held = load(dir, inventory_yaml(lab, dir, ", watchdog: {vip: 127.0.0.1}"));
  TransportPool pool(held);
  const VipHolders h = vip_holders(held, pool, 10s);
  CHECK(h.held == std::vector<std::string>{"node1"});
  CHECK(h.free.empty());
  CHECK(h.unanswered.empty());

  const Inventory other = load(dir, inventory_yaml(lab, dir, ", watchdog: {vip: 127.0.0.2}"));
  TransportPool pool2(other);
  CHECK(vip_holders(other, pool2, 10s).free == std::vector<std::string>{"node1"});

  // The prober: the first answer, then only changes (none here).
  History history;
  {
    RoleProber prober(held, history, 1000ms, 500ms, 100ms);
    prober.start();
    std::this_thread::sleep_for(1500ms);
    prober.stop();
  }
  std::vector<Op> vips;
  for (const Op& op : history.snapshot())
    if (op::is(op, op::proc::probe, op::fn::vip)) vips.push_back(op);
  REQUIRE(vips.size() == 1);
  CHECK(vips[0].type == OpType::ok);
  CHECK(vips[0].value == "held");
  CHECK(vips[0].node == "node1");
}

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
  const Inventory inv = load(dir, inventory_yaml(lab, dir));
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
