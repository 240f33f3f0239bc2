// Self-healing cuts (lan_cut self_heal: true) through the loopback sshd: the
// injector arms a script on the "node" (this host), which takes a real link
// down and brings it up again by itself; haverify then reads the script's
// log. The link is a veth pair of this test with no address, so no
// traffic of the host is touched. The lab test cuts the LAN haverify's SSH
// uses (tests/lab/test_self_heal.cpp); this one checks the mechanics.
#include <net/if.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/core/history.hpp"
#include "local_sshd.hpp"

using namespace std::chrono_literals;
using haverify::testing::Lab;

namespace {

// A veth pair of this test (no address: it carries nothing), deleted at the end.
class TestLink {
 public:
  TestLink() : name_(fmt::format("hvt-sh{}", ::getpid() % 100000)) {
    REQUIRE(std::system(fmt::format("ip link add {0} type veth peer name {0}p && ip link set {0} up", name_).c_str()) ==
            0);
  }
  ~TestLink() { (void)std::system(fmt::format("ip link del {} 2>/dev/null", name_).c_str()); }
  TestLink(const TestLink&) = delete;
  TestLink& operator=(const TestLink&) = delete;
  const std::string& name() const { return name_; }
  bool up() const {
    std::ifstream f("/sys/class/net/" + name_ + "/flags");
    unsigned long flags = 0;
    f >> std::hex >> flags;
    return (flags & IFF_UP) != 0;
  }

 private:
  std::string name_;
};

haverify::Inventory node_with_link(const Lab& lab, const std::string& ifname) {
  haverify::Inventory inv;
  inv.file = "loopback";
  haverify::NodeSpec node;
  node.name = "n1";
  node.ssh = lab.target();
  node.interfaces.push_back({"service", ifname, "198.18.255.1/32"});
  inv.nodes.push_back(node);
  return inv;
}

haverify::FaultSpec self_healing_cut(std::chrono::milliseconds lasts) {
  haverify::FaultSpec f;
  f.kind = "lan_cut";
  f.lan = "service";
  f.method = "link";
  f.targets = {"n1"};
  f.duration = lasts;
  f.self_heal = true;
  return f;
}

int count_ops(const haverify::History& h, const std::string& f, haverify::OpType type) {
  int n = 0;
  for (const auto& op : h.snapshot())
    n += op.process == "nemesis" && op.f == f && op.type == type &&
         op.value.find(", self-healing after 2.000 s") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("self-healing cut: the node cuts its link after the arm delay and heals it by itself", "[ssh]") {
  Lab lab;
  TestLink link;
  const auto inv = node_with_link(lab, link.name());
  haverify::TransportPool pool(inv);
  haverify::faults::FaultLedger ledger((lab.dir.path / "ledger.json").string());
  haverify::History history;
  haverify::faults::FaultInjector injector(inv, pool, ledger, history, "it", 10000ms);
  injector.inject_step({{"c1", self_healing_cut(2000ms), {"n1"}}});
  // The invoke is stamped when the node's timer fires: the link is down by then.
  bool went_down = false;
  for (int i = 0; i < 100 && !went_down; ++i) {
    went_down = !link.up();
    if (!went_down) std::this_thread::sleep_for(20ms);
  }
  CHECK(went_down);
  CHECK(ledger.entries().size() == 1);      // `haverify heal` could undo it after a crash
  const auto errors = injector.heal("c1");  // waits for the node's own heal
  INFO("sshd log:\n" << haverify::testing::slurp(lab.log));
  CHECK(errors.empty());
  CHECK(link.up());
  CHECK(ledger.entries().empty());
  CHECK(count_ops(history, "inject", haverify::OpType::invoke) == 1);
  CHECK(count_ops(history, "inject", haverify::OpType::ok) == 1);
  CHECK(count_ops(history, "heal", haverify::OpType::ok) == 1);
  for (const auto& e : std::filesystem::directory_iterator("/run"))
    CHECK(e.path().filename().string().find("haverify-selfheal-n1-c1") == std::string::npos);
}

TEST_CASE("self-healing cut: a cut that did not take effect is a failed heal, not a pass", "[ssh]") {
  Lab lab;
  const auto inv = node_with_link(lab, "hvt-nosuch0");  // no such link on this host
  haverify::TransportPool pool(inv);
  haverify::faults::FaultLedger ledger((lab.dir.path / "ledger.json").string());
  haverify::History history;
  haverify::faults::FaultInjector injector(inv, pool, ledger, history, "it", 10000ms);
  injector.inject_step({{"c1", self_healing_cut(2000ms), {"n1"}}});
  const auto errors = injector.heal("c1");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("the cut did not take effect") && Catch::Contains("hvt-nosuch0"));
  CHECK(count_ops(history, "heal", haverify::OpType::fail) == 1);
}
