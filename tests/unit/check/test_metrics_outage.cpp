// When a fault's outage ends (t_first_write, failover_s): writes that still
// succeed on the dying primary, acks in flight while the fault is applied,
// writes that resume only after the heal, an outage that never ends.
#include <catch2/catch.hpp>

#include "../history_builder.hpp"
#include "haverify/check/metrics.hpp"

using namespace haverify;

namespace {
using haverify::testing::kMs;
using Builder = haverify::testing::HistoryBuilder;
}  // namespace

TEST_CASE("writes that still succeed right after the fault do not end the outage", "[unit]") {
  Builder b;
  for (Nanos t = 0; t < 100; t += 10) b.write(1, t / 10 + 1, t, t + 2);
  b.add("nemesis", OpType::invoke, "inject", "kill", 100);
  b.add("nemesis", OpType::ok, "inject", "kill", 110);
  // The dying primary still acknowledges two writes, then nothing for 400 ms.
  b.write(2, 100, 112, 120);
  b.write(2, 101, 121, 130);
  b.write(3, 102, 300, 530);  // the first write on the new primary
  b.write(3, 103, 531, 540);
  // A later stall caused by the recovery, after the window closed, is not the failover.
  b.add("runner", OpType::invoke, "recover", "", 600);
  b.write(3, 104, 700, 2000);
  b.sort();
  auto m = compute_metrics(b.ops, std::set<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 101, 102, 103, 104});
  REQUIRE(m.t_first_write);
  CHECK(m.t_first_write->mono == 530 * kMs);
  CHECK(*m.failover_s == Approx(0.430));
  CHECK(*m.downtime_s == Approx(1.460));  // the longest gap of the whole run
  CHECK(*m.lost_acked == 0);
}

TEST_CASE("writes resuming only after the heal still end the outage", "[unit]") {
  Builder b;
  b.write(1, 1, 0, 5);
  b.add("nemesis", OpType::invoke, "inject", "cut", 100);
  b.add("nemesis", OpType::ok, "inject", "cut", 150);
  b.add("nemesis", OpType::invoke, "heal", "cut", 5000);
  b.write(1, 2, 5100, 5200);
  b.sort();
  auto m = compute_metrics(b.ops, std::set<std::int64_t>{1, 2});
  REQUIRE(m.failover_s);
  CHECK(*m.failover_s == Approx(5.1));
}

TEST_CASE("acks in flight while the fault is applied are no resumption: writes that never came back", "[unit]") {
  // A site power loss: the inject of both nodes takes 740 ms; the old primary
  // acknowledges one commit 134 ms after the send, then nothing ever again.
  Builder b;
  for (Nanos t = 0; t < 100; t += 10) b.write(1, t / 10 + 1, t, t + 2);
  b.add("nemesis", OpType::invoke, "inject", "power_off node1", 100);
  b.add("nemesis", OpType::invoke, "inject", "power_off node2", 100);
  b.write(2, 50, 90, 234);
  b.add("nemesis", OpType::ok, "inject", "power_off node1", 840);
  b.add("nemesis", OpType::ok, "inject", "power_off node2", 860);
  b.add("nemesis", OpType::invoke, "heal", "power_off node1", 10000);
  for (int i = 0; i < 5; ++i) b.add("client-3", OpType::fail, "write", std::to_string(60 + i), 11000 + i * 1000);
  b.sort();
  auto m = compute_metrics(b.ops, std::nullopt);
  CHECK_FALSE(m.t_first_write);
  CHECK_FALSE(m.failover_s);  // not 0.134 s
  // The same with a write on the new primary after the heal: that ends the outage.
  b.write(3, 70, 20000, 20100);
  b.sort();
  auto resumed = compute_metrics(b.ops, std::nullopt);
  REQUIRE(resumed.failover_s);
  CHECK(*resumed.failover_s == Approx(20.0));
}

TEST_CASE("an outage that never ends counts in downtime_s, the fault's other nodes do not close its window", "[unit]") {
  Builder b;
  for (Nanos t = 0; t < 100; t += 10) b.write(1, t / 10 + 1, t, t + 2);
  b.add("runner", OpType::invoke, "step", "inject lan_cut service of [primary, node3]", 99);
  b.add("nemesis", OpType::invoke, "inject", "cut node1", 100);
  b.add("nemesis", OpType::ok, "inject", "cut node1", 110);
  b.write(2, 50, 105, 115);  // the dying primary still acks once
  b.add("nemesis", OpType::invoke, "inject", "cut node3", 120);
  b.add("nemesis", OpType::ok, "inject", "cut node3", 130);
  b.write(2, 51, 400, 900);
  for (int i = 0; i < 5; ++i) b.add("client-3", OpType::fail, "write", std::to_string(60 + i), 1000 + i * 1000);
  b.sort();
  auto m = compute_metrics(b.ops, std::nullopt);
  REQUIRE(m.t_first_write);
  CHECK(m.t_first_write->mono == 900 * kMs);  // not the ack at 115 ms
  REQUIRE(m.downtime_s);
  CHECK(*m.downtime_s == Approx(4.1));  // 900 ms -> 5000 ms with no ack
}
