#include <catch2/catch.hpp>

#include <thread>

#include "../history_builder.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/history.hpp"

using namespace haverify;

namespace {
using haverify::testing::kMs;
using Builder = haverify::testing::HistoryBuilder;
}  // namespace

TEST_CASE("History assigns indices in order and is safe across threads", "[unit]") {
  History h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 1000; ++i)
        h.record("client-" + std::to_string(t), OpType::invoke, "write", std::to_string(i));
    });
  for (auto& t : ts) t.join();
  auto ops = h.snapshot();
  REQUIRE(ops.size() == 8000);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    CHECK(ops[i].index == static_cast<std::int64_t>(i));
    CHECK(ops[i].mono_ns > 0);
    CHECK(ops[i].wall_ns > 0);
  }
  std::size_t seen = 0;
  h.set_listener([&seen](const Op&) { ++seen; });
  h.record("runner", OpType::ok, "step", "x");
  CHECK(seen == 1);
}

TEST_CASE("failover, downtime and lost writes from a synthetic failover", "[unit]") {
  Builder b;
  // Steady writes every 10 ms before the fault.
  std::int64_t id = 1;
  for (Nanos t = 0; t < 1000; t += 10) b.write(1, id++, t, t + 2);
  // Fault: inject sent at 1000 ms, returned at 1030 ms.
  b.add("nemesis", OpType::invoke, "inject", "power_off node1", 1000, "node1");
  b.add("nemesis", OpType::ok, "inject", "power_off node1", 1030, "node1");
  // An in-flight write whose outcome is unknown, and a definite failure.
  b.write(1, id++, 1002, 4000, OpType::info);
  b.write(2, id++, 1500, 1501, OpType::fail);
  // Promotion observed at 3000 ms on node2.
  b.add("probe", OpType::ok, "role", "primary", 0, "node1");
  b.add("probe", OpType::ok, "role", "primary", 3000, "node2");
  // Writes resume: first ack at 3500 ms (invoked at 3400).
  for (Nanos t = 3400; t < 4400; t += 10) b.write(2, id++, t, t + 100);
  b.sort();

  std::set<std::int64_t> final_ids;
  for (std::int64_t i = 1; i < id; ++i) final_ids.insert(i);
  final_ids.erase(5);  // one acknowledged write lost
  auto m = compute_metrics(b.ops, final_ids);
  REQUIRE(m.t_inject_sent);
  CHECK(m.t_inject_sent->mono == 1000 * kMs);
  CHECK(m.t_inject_returned->mono == 1030 * kMs);
  REQUIRE(m.t_first_write);
  CHECK(m.t_first_write->mono == 3500 * kMs);
  REQUIRE(m.failover_s);
  CHECK(*m.failover_s == Approx(2.5));
  REQUIRE(m.t_promote);
  CHECK(m.t_promote->mono == 3000 * kMs);
  REQUIRE(m.downtime_s);
  CHECK(*m.downtime_s == Approx(3500.0 / 1000 - 992.0 / 1000));  // last ack before 992, next 3500
  CHECK(m.acked_total == 100 + 100);
  CHECK(m.unknown_commits == 1);
  CHECK(m.failed_writes == 1);
  REQUIRE(m.lost_acked);
  CHECK(*m.lost_acked == 1);
  CHECK(m.lost_ids == std::vector<std::int64_t>{5});
}

TEST_CASE("metrics stay unknown when they cannot be computed", "[unit]") {
  Builder b;
  b.write(1, 1, 0, 5);
  b.add("nemesis", OpType::invoke, "inject", "kill", 100);
  b.add("nemesis", OpType::ok, "inject", "kill", 110);
  b.add("client-1", OpType::invoke, "write", "2", 120);  // never completes: unknown
  b.sort();
  auto m = compute_metrics(b.ops, std::nullopt);
  CHECK_FALSE(m.failover_s);
  CHECK_FALSE(m.downtime_s);
  CHECK_FALSE(m.lost_acked);
  CHECK(m.unknown_commits == 1);
  auto v = evaluate(m, {{"failover_s", Bound{std::nullopt, 10.0}},
                        {"lost_acked", Bound{std::nullopt, 0.0}},
                        {"downtime_s", Bound{std::nullopt, 5.0}}});
  CHECK_FALSE(v.pass);
  CHECK(v.reason.find("no write was acknowledged after the fault") != std::string::npos);
  CHECK(v.reason.find("could not be read back") != std::string::npos);
}

TEST_CASE("checks pass and fail against their bounds with reasons", "[unit]") {
  RunMetrics m;
  m.failover_s = 3.5;
  m.downtime_s = 4.0;
  m.lost_acked = 2;
  m.lost_ids = {7, 9};
  m.acked_total = 5000;
  m.unknown_commits = 3;
  auto pass = evaluate(m, {{"failover_s", Bound{std::nullopt, 10.0}}, {"acked_total", Bound{1000.0, std::nullopt}}});
  CHECK(pass.pass);
  CHECK(pass.reason == "all 2 checks passed");
  auto fail = evaluate(m, {{"failover_s", Bound{std::nullopt, 3.0}},
                           {"lost_acked", Bound{std::nullopt, 0.0}},
                           {"unknown_commits", Bound{0.0, 5.0}}});
  CHECK_FALSE(fail.pass);
  CHECK(fail.reason.find("failover_s = 3.500 outside bound <= 3") != std::string::npos);
  CHECK(fail.reason.find("lost_acked = 2 outside bound <= 0 (e.g. ids 7 9)") != std::string::npos);
  CHECK(fail.reason.find("unknown_commits") == std::string::npos);
  REQUIRE(fail.checks.size() == 3);
  CHECK(format_bound(Bound{1.0, 2.0}) == "1 <= x <= 2");
}

TEST_CASE("detect_s and promote_s: phases of a failover measured from the inject", "[unit]") {
  Builder b;
  b.steady_then_inject(1000);
  // A detection before the fault (e.g. during the setup) is about something else.
  b.add("driver", OpType::info, "detect", "corosync membership: node3 left", 500, "node1");
  b.add("probe", OpType::ok, "role", "primary", 0, "node1");
  // Two detections after the fault: the earliest counts, whatever its type.
  b.add("driver", OpType::ok, "detect", "pacemaker transition 12", 1900, "node3");
  b.add("driver", OpType::info, "detect", "corosync membership: node1 left", 1750, "node2");
  b.add("probe", OpType::ok, "role", "primary", 2600, "node2");
  b.write(2, 1000, 2700, 2800);
  b.write(2, 1001, 2800, 2810);
  b.sort();
  auto m = compute_metrics(b.ops, std::nullopt);
  REQUIRE(m.t_detect);
  CHECK(m.t_detect->mono == 1750 * kMs);
  CHECK(m.t_detect->wall == 1'700'000'000'000 * kMs + 1750 * kMs);
  REQUIRE(m.detect_s);
  CHECK(*m.detect_s == Approx(0.750));
  REQUIRE(m.promote_s);
  CHECK(*m.promote_s == Approx(1.600));
  REQUIRE(m.failover_s);
  CHECK(*m.failover_s == Approx(1.800));
  CHECK(m.value("detect_s") == m.detect_s);
  CHECK(m.value("promote_s") == m.promote_s);

  Verdict v = evaluate(m, {{"detect_s", Bound{std::nullopt, 1.0}}, {"promote_s", Bound{std::nullopt, 1.5}}});
  CHECK_FALSE(v.pass);
  CHECK(v.reason.find("promote_s = 1.600 outside bound <= 1.5") != std::string::npos);
  CHECK(v.reason.find("detect_s") == std::string::npos);
}

TEST_CASE("detect_s is unknown without a driver detection after the fault", "[unit]") {
  Builder b;
  b.steady_then_inject(1000, "kill");
  b.add("driver", OpType::info, "detect", "an earlier membership change", 900, "node2");
  b.add("driver", OpType::ok, "status", "not a detection", 1200, "node2");
  b.add("driver-x", OpType::ok, "detect", "another process", 1300, "node2");
  b.write(2, 1000, 1400, 1500);
  b.sort();
  auto m = compute_metrics(b.ops, std::nullopt);
  CHECK_FALSE(m.t_detect);
  CHECK_FALSE(m.detect_s);
  CHECK_FALSE(m.promote_s);  // no probe saw a new primary either
  Verdict v = evaluate(m, {{"detect_s", Bound{std::nullopt, 5.0}}});
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "detect_s unknown: the cluster driver recorded no detection after the fault");

  // Without a fault there is nothing to detect.
  Builder quiet;
  quiet.add("driver", OpType::info, "detect", "x", 10, "node1");
  auto q = compute_metrics(quiet.ops, std::nullopt);
  CHECK_FALSE(q.t_detect);
  CHECK_FALSE(q.detect_s);
}

TEST_CASE("streaming: late driver detections and out-of-order inject sends reach the metrics pass", "[unit]") {
  // As the runner does it: a History that keeps no ops, the pass attached as
  // a sink; the injector's threads append their invokes in any order, and the
  // driver's detections come after everything, with their own earlier times.
  Builder b;
  for (Nanos t = 0; t < 1000; t += 10) b.write(1, t / 10 + 1, t, t + 2);
  b.add("probe", OpType::ok, "role", "primary", 500, "node1");
  b.add("nemesis", OpType::invoke, "inject", "lan_cut service of node1", 1003, "node1");
  b.add("nemesis", OpType::invoke, "inject", "lan_cut replication of node2", 1000, "node2");
  b.add("nemesis", OpType::info, "injection_skew", "3.000", 1004);
  b.add("nemesis", OpType::ok, "inject", "lan_cut service of node1", 1010, "node1");
  b.add("nemesis", OpType::ok, "inject", "lan_cut replication of node2", 1012, "node2");
  b.add("probe", OpType::ok, "role", "primary", 2600, "node2");
  b.write(2, 1000, 2700, 2800);
  b.write(2, 1001, 2800, 2810);
  b.add("nemesis", OpType::invoke, "inject", "power_off node3", 5000, "node3");
  b.add("nemesis", OpType::info, "injection_skew", "1.500", 5001);
  b.add("nemesis", OpType::ok, "inject", "power_off node3", 5010, "node3");
  b.add("driver", OpType::info, "detect", "setup noise", 400, "node1");
  b.add("driver", OpType::info, "detect", "pacemaker transition 12", 1900, "node3");
  b.add("driver", OpType::info, "detect", "corosync membership: node1 left", 1500, "node2");

  MetricsPass pass;
  History h(/*keep_in_memory=*/false);
  h.add_sink(&pass);
  for (auto op : b.ops) h.append(std::move(op));
  h.remove_sink(&pass);
  CHECK(h.snapshot().empty());
  auto m = pass.finish(std::nullopt);
  REQUIRE(m.t_inject_sent);
  CHECK(m.t_inject_sent->mono == 1000 * kMs);  // the earliest send of the step
  REQUIRE(m.t_inject_returned);
  CHECK(m.t_inject_returned->mono == 1010 * kMs);
  REQUIRE(m.detect_s);
  CHECK(*m.detect_s == Approx(0.500));
  REQUIRE(m.promote_s);
  CHECK(*m.promote_s == Approx(1.600));
  REQUIRE(m.value("injection_skew_ms"));
  CHECK(*m.value("injection_skew_ms") == Approx(3.0));  // the largest over the steps
  // The same ops as a whole vector give the same figures.
  auto w = compute_metrics(b.ops, std::nullopt);
  CHECK(w.detect_s == m.detect_s);
  CHECK(w.figures == m.figures);
}

// ---------------------------------------------------------------------------
// Planned operations (cluster steps): op_s, stall_s, operations

namespace {
std::vector<Nanos> ms_list(std::initializer_list<Nanos> ms) {
  std::vector<Nanos> out;
  for (Nanos m : ms) out.push_back(m * kMs);
  return out;
}
std::optional<double> stall_ms(const std::vector<Nanos>& acks, Nanos from, Nanos to, Nanos writes_end) {
  auto s = longest_stall(acks, from * kMs, to * kMs, writes_end * kMs);
  return s ? std::optional<double>(static_cast<double>(*s) / kMs) : std::nullopt;
}
}  // namespace

TEST_CASE("longest_stall: the longest ack gap that overlaps the operation", "[unit]") {
  const auto acks = ms_list({0, 10, 20, 30, 2030, 2040, 2050, 9000, 9010});
  // A gap that starts before the operation and ends inside it counts whole.
  CHECK(stall_ms(acks, 1000, 2035, 9010) == 2000);
  // Inside steady writes: the usual gap.
  CHECK(stall_ms(acks, 2032, 2048, 9010) == 10);
  // A gap that starts inside the operation and ends after it counts whole too.
  CHECK(stall_ms(acks, 2045, 2100, 9010) == 6950);
  // Gaps entirely before or after the operation do not.
  CHECK(stall_ms(acks, 9001, 9005, 9010) == 10);
  CHECK(stall_ms(acks, 11, 19, 9010) == 10);
}

TEST_CASE("longest_stall: writes that never resume, no writes yet, writes stopped", "[unit]") {
  const auto acks = ms_list({0, 10, 20});
  // The clients kept trying until 8000: the stall runs to the end of the operation.
  CHECK(stall_ms(acks, 1000, 5000, 8000) == 4980);
  // Nothing acknowledged before the operation ended: no figure (the time
  // before the first write is no stall).
  CHECK_FALSE(stall_ms(ms_list({6000, 6010}), 1000, 5000, 7000));
  CHECK(stall_ms(ms_list({3000, 3010}), 1000, 5000, 9000) == 1990);
  // The workload had stopped before the operation ended: only the gaps between acks.
  CHECK(stall_ms(ms_list({3000, 3010}), 1000, 5000, 3020) == 10);
  CHECK_FALSE(stall_ms(acks, 1000, 5000, 25));
  CHECK_FALSE(stall_ms({}, 0, 5000, 6000));
}

TEST_CASE("op_s, stall_s and the operations from a synthetic normal run", "[unit]") {
  Builder b;
  std::int64_t id = 1;
  for (Nanos t = 0; t < 1000; t += 10) b.write(1, id++, t, t + 2);
  // A switchover from 1000 to 6000 ms; writes stall from 1992 to 4500.
  b.cluster_op("switchover", "node2", 1000, 6000);
  for (Nanos t = 1000; t < 2000; t += 10) b.write(1, id++, t, t + 2);
  for (Nanos t = 4500; t < 7000; t += 10) b.write(1, id++, t, t + 2);
  // A stop_node that fails at 7500 (writes go on every 10 ms).
  b.cluster_op("stop_node", "node3", 7000, 7500, OpType::fail);
  for (Nanos t = 7000; t < 8000; t += 10) b.write(1, id++, t, t + 2);
  // A skipped rebuild.
  b.add("driver", OpType::info, "rebuild", "skipped: shared_disk", 8100);
  b.sort();
  const auto m = compute_metrics(b.ops, std::nullopt);
  // Without an injection the fault timings are simply empty.
  CHECK_FALSE(m.t_inject_sent);
  CHECK_FALSE(m.failover_s);
  CHECK_FALSE(m.detect_s);
  CHECK_FALSE(m.promote_s);
  REQUIRE(m.downtime_s);
  CHECK(*m.downtime_s == Approx(2.510));
  REQUIRE(m.op_s);
  CHECK(*m.op_s == Approx(5.0));
  REQUIRE(m.stall_s);
  CHECK(*m.stall_s == Approx(2.510));  // 1992 -> 4502 (the acks around the gap)
  REQUIRE(m.operations.size() == 3);
  const auto& sw = m.operations[0];
  CHECK(sw.op == "switchover");
  CHECK(sw.node == "node2");
  CHECK(sw.outcome == "ok");
  CHECK(sw.detail == "node2; 5000 ms");
  CHECK(sw.start.mono == 1000 * kMs);
  REQUIRE(sw.duration_s);
  CHECK(*sw.duration_s == Approx(5.0));
  REQUIRE(sw.stall_s);
  CHECK(*sw.stall_s == Approx(2.510));
  const auto& stop = m.operations[1];
  CHECK(stop.outcome == "fail");
  CHECK(stop.detail == "it failed");
  REQUIRE(stop.duration_s);
  CHECK(*stop.duration_s == Approx(0.5));
  REQUIRE(stop.stall_s);
  CHECK(*stop.stall_s == Approx(0.010));
  const auto& skipped = m.operations[2];
  CHECK(skipped.outcome == "skipped");
  CHECK(skipped.detail == "skipped: shared_disk");
  CHECK_FALSE(skipped.duration_s);
  CHECK_FALSE(skipped.stall_s);

  // Checks bound them; the fault timings are not needed.
  Verdict v = evaluate(m, {{"op_s", Bound{std::nullopt, 10.0}},
                           {"stall_s", Bound{std::nullopt, 2.0}},
                           {"downtime_s", Bound{std::nullopt, 30.0}}});
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "stall_s = 2.510 outside bound <= 2");
}

TEST_CASE("op_s and stall_s: unknown without operations, not measured when every one was skipped", "[unit]") {
  Builder b;
  for (Nanos t = 0; t < 100; t += 10) b.write(1, t / 10 + 1, t, t + 2);
  const std::map<std::string, Bound> checks = {{"op_s", Bound{std::nullopt, 10.0}},
                                               {"stall_s", Bound{std::nullopt, 10.0}}};
  const auto none = compute_metrics(b.ops, std::nullopt);
  CHECK(none.operations.empty());
  Verdict v = evaluate(none, checks);
  CHECK_FALSE(v.pass);
  CHECK(v.reason.find("op_s unknown: no cluster operation ran to its end") != std::string::npos);
  CHECK(v.reason.find("stall_s unknown: no write was acknowledged before the end of any cluster operation") !=
        std::string::npos);
  // The same scenario on shared disk: its only operation skipped (skip_if).
  b.add("driver", OpType::info, "rebuild", "skipped: shared_disk", 200);
  const auto m = compute_metrics(b.ops, std::nullopt);
  CHECK_FALSE(m.op_s);
  CHECK_FALSE(m.stall_s);
  REQUIRE(m.operations.size() == 1);
  v = evaluate(m, checks);
  CHECK(v.pass);
  REQUIRE(v.checks.size() == 2);
  CHECK(v.checks[0].reason == "op_s not measured: every cluster operation was skipped");
  CHECK_FALSE(v.checks[0].value);
  // An operation with no write before it ended: op_s, but no stall_s.
  Builder early;
  early.cluster_op("stop", "", 0, 3000);
  early.write(1, 1, 3500, 3510);
  const auto e = compute_metrics(early.ops, std::nullopt);
  CHECK(e.op_s == Approx(3.0));
  CHECK_FALSE(e.stall_s);
}

TEST_CASE("stop and start of the whole cluster: the stall spans both operations", "[unit]") {
  Builder b;
  std::int64_t id = 1;
  for (Nanos t = 0; t < 1000; t += 10) b.write(1, id++, t, t + 2);
  b.cluster_op("stop", "", 1000, 4000);
  // The clients keep trying (and failing) while the cluster is down.
  for (Nanos t = 1000; t < 9000; t += 500) b.write(1, id++, t, t + 400, OpType::fail);
  b.cluster_op("start", "", 6000, 9000);
  for (Nanos t = 9100; t < 9500; t += 10) b.write(1, id++, t, t + 2);
  b.sort();
  const auto m = compute_metrics(b.ops, std::nullopt);
  REQUIRE(m.operations.size() == 2);
  // Both operations overlap the one gap from the last ack (992) to the first after the start (9102).
  CHECK(m.operations[0].stall_s == Approx(8.110));
  CHECK(m.operations[1].stall_s == Approx(8.110));
  CHECK(m.stall_s == Approx(8.110));
  CHECK(m.op_s == Approx(3.0));
}

namespace {

// Issue 13, "Why" 9: a standby made to lag first (inject 1), then the primary powered off
// (inject 2). Writes every 10 ms stop at the power-off and resume 66 s later on node2.
haverify::testing::HistoryBuilder lag_then_power_off() {
  haverify::testing::HistoryBuilder h;
  h.add("probe", OpType::ok, "role", "primary", 0, "node1");
  h.add("probe", OpType::ok, "role", "standby", 0, "node2");
  std::int64_t id = 1;
  for (Nanos t = 10; t < 5000; t += 10) h.write(1, id++, t, t + 2);
  h.add("runner", OpType::invoke, "step", "inject process_pause walreceiver for 60000ms on node2", 1000);
  h.add("nemesis", OpType::invoke, "inject", "process_pause walreceiver node2", 1000, "node2");
  h.add("nemesis", OpType::ok, "inject", "process_pause walreceiver node2", 1010, "node2");
  h.add("runner", OpType::invoke, "step", "inject power_off node1", 4995);
  h.add("nemesis", OpType::invoke, "inject", "power_off node1", 4995, "node1");
  h.add("nemesis", OpType::ok, "inject", "power_off node1", 5005, "node1");
  h.add("probe", OpType::ok, "role", "down", 5100, "node1");
  h.add("driver", OpType::info, "detect", "node1 lost", 9000, "node2");  // noticed by a survivor
  h.add("probe", OpType::ok, "role", "primary", 65000, "node2");
  for (Nanos t = 71000; t < 72000; t += 10) h.write(1, id++, t, t + 2);
  h.sort();
  return h;
}

}  // namespace

TEST_CASE("metrics: the timings are measured from the fault that changed the primary, not the first fault", "[unit]") {
  const auto h = lag_then_power_off();
  const RunMetrics m = compute_metrics(h.ops, std::nullopt);
  // Before issue 13: failover_s = 0.002 (the first write after the *first* fault), with a 66 s outage.
  REQUIRE(m.failover_s);
  CHECK(*m.failover_s == Approx(66.007).margin(0.0005));  // sent at 4.995 s, first ack after it at 71.002 s
  REQUIRE(m.promote_s);
  CHECK(*m.promote_s == Approx(60.005).margin(0.0005));
  REQUIRE(m.detect_s);
  CHECK(*m.detect_s == Approx(4.005).margin(0.0005));
  CHECK(m.promoted == "node2");
  CHECK(m.primaries_before == std::set<std::string>{"node1"});
  CHECK(m.measured_from == "power_off node1 (the first fault that changed the primary)");
}

TEST_CASE("metrics: measure_from names the fault, with none that changed the primary, the last fault", "[unit]") {
  const auto h = lag_then_power_off();
  MetricsPass named(MetricsOptions{0, "f1"});
  for (const auto& op : h.ops) named.on_op(op);
  const RunMetrics m = named.finish(std::nullopt);
  REQUIRE(m.failover_s);
  CHECK(*m.failover_s ==
        Approx(0.012).margin(0.0005));  // the lag fault: writes went on (first ack after its inject returned)
  CHECK_FALSE(m.promote_s);             // node2's promotion came after the next fault
  CHECK_FALSE(m.detect_s);              // so did the detection
  CHECK(m.measured_from == "f1: process_pause walreceiver node2 (named by measure_from)");

  MetricsPass missing(MetricsOptions{5, "f9"});
  for (const auto& op : h.ops) missing.on_op(op);
  const RunMetrics n = missing.finish(std::nullopt);
  CHECK_FALSE(n.failover_s);
  CHECK(n.measured_from == "f9 (named by measure_from) was never injected");

  // No promotion at all: the last fault.
  haverify::testing::HistoryBuilder g;
  g.add("probe", OpType::ok, "role", "primary", 0, "node1");
  for (Nanos t = 10; t < 3000; t += 10) g.write(1, t, t, t + 2);
  g.add("nemesis", OpType::invoke, "inject", "lan_cut a", 1000, "node2");
  g.add("nemesis", OpType::ok, "inject", "lan_cut a", 1010, "node2");
  g.add("runner", OpType::invoke, "step", "heal all", 1500);
  g.add("nemesis", OpType::invoke, "inject", "lan_cut b", 2000, "node3");
  g.add("nemesis", OpType::ok, "inject", "lan_cut b", 2010, "node3");
  g.sort();
  const RunMetrics k = compute_metrics(g.ops, std::nullopt);
  CHECK(k.measured_from == "lan_cut b (the last fault; none changed the primary)");
  REQUIRE(k.t_inject_sent);
  CHECK(k.t_inject_sent->mono == 2000 * kMs);
}
