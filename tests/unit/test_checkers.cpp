#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"
#include "history_builder.hpp"

using namespace haverify;

namespace {
using haverify::testing::kMs;
using haverify::testing::kWall0;
using Hist = haverify::testing::HistoryBuilder;

NodeFinalState node_state(const std::string& name, bool primary, std::set<std::int64_t> ids = {}) {
  NodeFinalState n;
  n.node = name;
  n.reachable = true;
  n.in_recovery = !primary;
  n.timeline = 3;
  n.streaming_from_primary = !primary;
  n.ledger_ids = std::move(ids);
  n.table_checksums = {{"haverify_ledger", "aaaa"}, {"haverify_bank", "bbbb"}};
  return n;
}

bool has_reason(const CheckerVerdict& v, const std::string& needle) {
  return std::any_of(v.reasons.begin(), v.reasons.end(),
                     [&](const std::string& r) { return r.find(needle) != std::string::npos; });
}

double fig(const CheckerVerdict& v, const std::string& k) {
  auto it = v.figures.find(k);
  if (it == v.figures.end()) FAIL("figure " << k << " missing");
  return it->second;
}

std::string dump(const CheckerVerdict& v) {
  std::string s = format_verdict(v);
  for (const auto& [k, x] : v.figures) s += fmt::format("\n  {} = {}", k, x);
  return s;
}

// Writes 1..5 ok, 6 info, 7 fail, 8 invoked and never completed.
Hist ledger_history() {
  Hist h;
  for (std::int64_t id = 1; id <= 5; ++id) h.write(1, id, id * 10, id * 10 + 2);
  h.write(2, 6, 100, 200, OpType::info);
  h.write(2, 7, 210, 211, OpType::fail);
  h.add("client-3", OpType::invoke, "write", "8", 220);
  h.sort();
  return h;
}

FinalState two_nodes(std::set<std::int64_t> primary_ids, std::set<std::int64_t> standby_ids) {
  FinalState f;
  f.primary = "n1";
  f.nodes = {node_state("n1", true, std::move(primary_ids)), node_state("n2", false, std::move(standby_ids))};
  return f;
}

class Throwing final : public Checker {
 public:
  explicit Throwing(bool std_exception) : std_(std_exception) {}
  std::string name() const override { return "throwing"; }
  CheckerVerdict check(const std::vector<Op>&, const FinalState&) const override {
    if (std_) throw std::runtime_error("boom: history is odd");
    throw 42;
  }

 private:
  bool std_;
};

CheckerVerdict verdict(CheckStatus s) {
  CheckerVerdict v;
  v.checker = "x";
  v.status = s;
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------
// Durability

TEST_CASE("durability: every write classified, passes when acked writes survive", "[unit]") {
  const Hist h = ledger_history();
  const FinalState f = two_nodes({1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6});
  const auto v = run_checker(DurabilityChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.checker == "durability");
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "acked") == 5);
  CHECK(fig(v, "unknown") == 2);  // 6 (info) and 8 (never completed)
  CHECK(fig(v, "failed") == 1);
  CHECK(fig(v, "acked_present") == 5);
  CHECK(fig(v, "acked_lost") == 0);
  CHECK(fig(v, "unknown_present") == 1);
  CHECK(fig(v, "unknown_absent") == 1);
  CHECK(fig(v, "failed_present") == 0);
  CHECK(fig(v, "failed_absent") == 1);
  CHECK(fig(v, "lost_acked") == 0);
  CHECK(fig(v, "lost_unknown") == 1);
  CHECK(fig(v, "failed_but_present") == 0);
  CHECK(fig(v, "unexpected_present") == 0);
  CHECK(fig(v, "lost_acked_on_n1") == 0);
  CHECK(fig(v, "lost_acked_on_n2") == 0);
}

TEST_CASE("durability: acknowledged writes lost on the primary fail, naming the ids", "[unit]") {
  const Hist h = ledger_history();
  const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({1, 3, 5}, {1, 2, 3, 4, 5}));
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "lost_acked") == 2);
  CHECK(fig(v, "lost_acked_on_n1") == 2);
  CHECK(fig(v, "lost_acked_on_n2") == 0);
  CHECK(fig(v, "lost_unknown") == 2);
  REQUIRE_FALSE(v.reasons.empty());
  CHECK(v.reasons.front().find("2 acknowledged writes lost on the primary n1: 2,4") != std::string::npos);
}

TEST_CASE("durability: only the first 10 lost ids are named", "[unit]") {
  Hist h;
  for (std::int64_t id = 1; id <= 25; ++id) h.write(1, id, id * 10, id * 10 + 1);
  const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({}, {}));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "lost_acked") == 25);
  CHECK(has_reason(v, "1,2,3,4,5,6,7,8,9,10 (+15 more)"));
}

TEST_CASE("durability: a write reported failed that is present fails", "[unit]") {
  const Hist h = ledger_history();
  SECTION("on the primary") {
    const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({1, 2, 3, 4, 5, 7}, {1, 2, 3, 4, 5, 7}));
    INFO(dump(v));
    CHECK(v.status == CheckStatus::fail);
    CHECK(fig(v, "failed_present") == 1);
    CHECK(fig(v, "failed_but_present") == 1);
    CHECK(fig(v, "lost_acked") == 0);
    CHECK(has_reason(v, "1 writes reported failed are present: 7"));
  }
  SECTION("only on another node") {
    const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5, 7}));
    INFO(dump(v));
    CHECK(v.status == CheckStatus::fail);
    CHECK(fig(v, "failed_present") == 0);
    CHECK(fig(v, "failed_but_present") == 1);
  }
}

TEST_CASE("durability: ids on the primary that nobody wrote fail", "[unit]") {
  const Hist h = ledger_history();
  const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({1, 2, 3, 4, 5, 99}, {1, 2, 3, 4, 5}));
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "unexpected_present") == 1);
  CHECK(has_reason(v, "no client ever wrote: 99"));
}

TEST_CASE("durability: acked ids missing on a standby are reported but do not fail", "[unit]") {
  const Hist h = ledger_history();
  FinalState f = two_nodes({1, 2, 3, 4, 5}, {1, 2, 3});
  f.nodes.push_back(node_state("n3", false));
  f.nodes.back().reachable = false;
  f.nodes.back().ledger_ids.reset();
  const auto v = run_checker(DurabilityChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "lost_acked") == 0);
  CHECK(fig(v, "lost_acked_on_n2") == 2);
  CHECK(v.figures.count("lost_acked_on_n3") == 0);
  CHECK(has_reason(v, "n2 (not the primary) lacks 2 acknowledged ids: 4,5"));
  CHECK(has_reason(v, "ids not read on n3 (unreachable)"));
}

TEST_CASE("durability: unknown without the primary's ids", "[unit]") {
  const Hist h = ledger_history();
  SECTION("ids not read") {
    FinalState f = two_nodes({}, {1, 2, 3, 4, 5});
    f.nodes[0].ledger_ids.reset();
    const auto v = run_checker(DurabilityChecker(), h.ops, f);
    INFO(dump(v));
    CHECK(v.status == CheckStatus::unknown);
    CHECK(v.figures.count("lost_acked") == 0);
    CHECK(v.figures.count("lost_unknown") == 0);
    CHECK(fig(v, "acked") == 5);
    CHECK(has_reason(v, "ids of the final primary n1 were not read"));
  }
  SECTION("primary unknown") {
    FinalState f = two_nodes({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5});
    f.primary.clear();
    const auto v = run_checker(DurabilityChecker(), h.ops, f);
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "the final primary is unknown"));
  }
  SECTION("primary not among the nodes") {
    FinalState f = two_nodes({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5});
    f.primary = "n9";
    CHECK(run_checker(DurabilityChecker(), h.ops, f).status == CheckStatus::unknown);
  }
}

// ---------------------------------------------------------------------------
// Single writer

TEST_CASE("single writer: a clean handover passes", "[unit]") {
  Hist h;
  h.probes("n1", 0, 1000, true);
  for (Nanos t = 1050; t <= 2000; t += 50) h.probe_fail("n1", t);
  h.probes("n2", 0, 1400, false);
  h.probes("n2", 1450, 3000, true);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.checker == "single_writer");
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "split_brain_windows") == 0);
  CHECK(fig(v, "split_brain_s") == 0);
  CHECK(fig(v, "probe_nodes") == 2);
  CHECK(fig(v, "probe_samples") == 21 + 20 + 29 + 32);

  const auto w = writable_windows(h.ops, 50 * kMs);
  REQUIRE(w.count("n1"));
  REQUIRE(w.at("n1").size() == 1);
  CHECK(w.at("n1")[0].from == -50 * kMs);  // the first sample covers one interval back
  CHECK(w.at("n1")[0].to == 1050 * kMs);   // writable until its next sample
  REQUIRE(w.at("n2").size() == 1);
  CHECK(w.at("n2")[0].from == 1400 * kMs);  // since its previous (non-writable) sample
  CHECK(w.at("n2")[0].to == 3050 * kMs);    // last sample: one interval on
}

TEST_CASE("single writer: overlapping writable windows of two nodes fail with bounds and counts", "[unit]") {
  Hist h;
  h.probes("n1", 0, 2000, true);
  h.probes("n2", 0, 950, false);
  h.probes("n2", 1000, 3000, true, 100);  // the prober answers n2 every 100 ms
  h.write(1, 1, 400, 500);                // before the window
  h.write(1, 2, 1050, 1100);              // three inside
  h.write(1, 3, 1150, 1200);
  h.write(1, 4, 1250, 1300, OpType::ok);
  h.write(1, 5, 1350, 1400, OpType::info);  // not acknowledged: not counted
  h.sort();
  const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "split_brain_windows") == 1);
  // n1: writable until one interval after its last sample (2000 -> 2050);
  // n2: from its last non-writable sample (950).
  CHECK(fig(v, "split_brain_s") == Approx(1.100));
  REQUIRE_FALSE(v.reasons.empty());
  const std::string& r = v.reasons.front();
  CHECK(r.find("n1 (22 writable probe samples) and n2 (11 writable probe samples)") != std::string::npos);
  CHECK(r.find(format_wall_ns(kWall0 + 950 * kMs)) != std::string::npos);
  CHECK(r.find(format_wall_ns(kWall0 + 2050 * kMs)) != std::string::npos);
  CHECK(r.find("t=0.950..2.050 s") != std::string::npos);
  CHECK(r.find("for 1.100 s") != std::string::npos);
  CHECK(r.find("3 ledger writes acknowledged through the endpoint vip:5432/app") != std::string::npos);
  CHECK(r.find("attributed to the endpoint") != std::string::npos);
}

TEST_CASE("single writer: separate overlaps are separate windows, a third node joins a window", "[unit]") {
  SECTION("two windows") {
    Hist h;
    h.probes("n1", 0, 3000, true);
    h.probes("n2", 0, 450, false);
    h.probes("n2", 500, 1000, true);  // [450, 1050]
    h.probes("n2", 1050, 1950, false);
    h.probes("n2", 2000, 2200, true);  // [1950, 2250]
    h.probes("n2", 2250, 3000, false);
    h.sort();
    const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
    INFO(dump(v));
    CHECK(v.status == CheckStatus::fail);
    CHECK(fig(v, "split_brain_windows") == 2);
    CHECK(fig(v, "split_brain_s") == Approx(0.600 + 0.300));
  }
  SECTION("three nodes, one maximal window") {
    Hist h;
    h.probes("n1", 0, 1000, true);  // [-50, 1050]
    for (Nanos t = 1050; t <= 2500; t += 50) h.probe_fail("n1", t);
    h.probes("n2", 0, 450, false);
    h.probes("n2", 500, 1500, true);  // [450, 1550]
    h.probes("n2", 1550, 2500, false);
    h.probes("n3", 0, 850, false);
    h.probes("n3", 900, 2500, true);  // [850, 2550]
    h.sort();
    const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
    INFO(dump(v));
    CHECK(v.status == CheckStatus::fail);
    CHECK(fig(v, "split_brain_windows") == 1);
    CHECK(fig(v, "split_brain_s") == Approx(1.100));  // 450 .. 1550
    CHECK(has_reason(v, "n1 ("));
    CHECK(has_reason(v, "n2 ("));
    CHECK(has_reason(v, "n3 ("));
  }
}

TEST_CASE("single writer: a gap in a node's samples does not stretch its writable window", "[unit]") {
  Hist h;
  h.probes("n1", 0, 1000, true);
  h.probe_fail("n1", 3000);  // the prober stalled 2 s on the dead node
  h.probes("n2", 0, 1150, false);
  h.probes("n2", 1200, 3000, true);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "max_probe_gap_s") == Approx(2.0));
  const auto w = writable_windows(h.ops, 50 * kMs);
  CHECK(w.at("n1").back().to == 1050 * kMs);
}

TEST_CASE("single writer: slow writable samples of one node stay one window", "[unit]") {
  Hist h;
  for (Nanos t = 0; t <= 3000; t += 300) h.probe("n1", t, true);  // each sample took 300 ms
  h.probes("n2", 0, 3000, false);
  h.sort();
  const auto w = writable_windows(h.ops, 50 * kMs);
  REQUIRE(w.at("n1").size() == 1);
  CHECK(w.at("n1")[0].from == -50 * kMs);
  CHECK(w.at("n1")[0].to == 3050 * kMs);
  CHECK(w.count("n2") == 0);
  CHECK(run_checker(SingleWriterChecker(), h.ops, FinalState{}).status == CheckStatus::pass);
}

TEST_CASE("single writer: unknown without probe samples, malformed samples are not writable", "[unit]") {
  Hist h;
  h.write(1, 1, 0, 5);
  h.add("probe", OpType::ok, "role", "primary", 10, "n1");  // the old role probe is not a state sample
  auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "no probe state samples"));

  h.add("probe", OpType::ok, "state", "not json", 20, "n1");
  h.add("probe", OpType::ok, "state", R"({"in_recovery":false})", 30, "n2");
  v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  CHECK(v.status == CheckStatus::pass);
  CHECK(has_reason(v, "2 probe samples without a boolean `writable`"));
}

// ---------------------------------------------------------------------------
// Convergence

namespace {
FinalState converged_cluster() {
  FinalState f;
  f.primary = "n1";
  f.nodes = {node_state("n1", true, {1, 2, 3}), node_state("n2", false, {1, 2, 3}), node_state("n3", false, {1, 2, 3})};
  f.converged_mono = 5000 * kMs;
  return f;
}
Hist fault_history() {
  Hist h;
  h.add("nemesis", OpType::invoke, "inject", "power_off n1", 1000, "n1");
  h.add("nemesis", OpType::ok, "inject", "power_off n1", 1020, "n1");
  h.add("nemesis", OpType::invoke, "heal", "power_off n1", 3000, "n1");
  h.add("nemesis", OpType::ok, "heal", "power_off n1", 3100, "n1");
  h.add("runner", OpType::invoke, "recover", "", 3200);
  h.add("runner", OpType::ok, "recover", "n2", 3500);
  return h;
}
}  // namespace

TEST_CASE("convergence: standbys following the primary pass, converged_s from the later of heal/recover", "[unit]") {
  const Hist h = fault_history();
  const auto v = run_checker(ConvergenceChecker(), h.ops, converged_cluster());
  INFO(dump(v));
  CHECK(v.checker == "convergence");
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "converged_s") == Approx(1.5));  // 5000 - 3500 (recover ok)
  CHECK(fig(v, "diverged_nodes") == 0);
  CHECK(fig(v, "standbys") == 2);

  Hist heal_only;
  heal_only.add("nemesis", OpType::ok, "inject", "x", 1020);
  heal_only.add("nemesis", OpType::ok, "heal", "x", 3100);
  CHECK(fig(run_checker(ConvergenceChecker(), heal_only.ops, converged_cluster()), "converged_s") == Approx(1.9));

  Hist inject_only;
  inject_only.add("nemesis", OpType::invoke, "inject", "x", 1000);
  inject_only.add("nemesis", OpType::ok, "inject", "x", 1020);
  CHECK(fig(run_checker(ConvergenceChecker(), inject_only.ops, converged_cluster()), "converged_s") == Approx(3.98));

  const auto none = run_checker(ConvergenceChecker(), std::vector<Op>{}, converged_cluster());
  CHECK(none.status == CheckStatus::pass);
  CHECK(none.figures.count("converged_s") == 0);
}

TEST_CASE("convergence: each way a standby can differ fails, naming the node and the difference", "[unit]") {
  const Hist h = fault_history();
  FinalState f = converged_cluster();
  std::string expect;
  SECTION("wrong timeline") {
    f.nodes[1].timeline = 2;
    expect = "n2 has not converged: timeline 2 (primary 3)";
  }
  SECTION("not streaming") {
    f.nodes[2].streaming_from_primary = false;
    expect = "n3 has not converged: not streaming from the primary";
  }
  SECTION("checksum differs") {
    f.nodes[1].table_checksums["haverify_bank"] = "cccc";
    expect = "n2 has not converged: haverify_bank differs (checksum cccc, primary bbbb)";
  }
  SECTION("table missing") {
    f.nodes[1].table_checksums.erase("haverify_ledger");
    expect = "n2 has not converged: no checksum of haverify_ledger";
  }
  SECTION("unreachable") {
    f.nodes[2].reachable = false;
    expect = "n3 has not converged: unreachable";
  }
  SECTION("a second primary") {
    f.nodes[1].in_recovery = false;
    expect = "n2 has not converged: not in recovery";
  }
  SECTION("ledger ids differ") {
    f.nodes[1].ledger_ids = std::set<std::int64_t>{1, 2, 7};
    expect = "n2 has not converged: ledger ids differ: 1 missing (3) 1 extra (7)";
  }
  SECTION("the primary is in recovery") {
    f.nodes[0].in_recovery = true;
    expect = "the primary n1 is in recovery";
  }
  SECTION("streaming, but the manager would not promote it") {
    f.takeover_blockers["n3"] = "promotion score -INFINITY";
    expect = "n3 has not converged: cannot take over: promotion score -INFINITY";
  }
  SECTION("shared disk: a passive node the group may not move to") {
    f.replicated = false;
    for (std::size_t i = 1; i < f.nodes.size(); ++i) f.nodes[i].reachable = false;
    f.takeover_blockers["n2"] = "allocation score -INFINITY";
    expect = "passive node n2 cannot take over: allocation score -INFINITY";
  }
  const auto v = run_checker(ConvergenceChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(has_reason(v, expect));
}

TEST_CASE("convergence: several differences on one node are listed together", "[unit]") {
  FinalState f = converged_cluster();
  f.nodes[1].timeline = 2;
  f.nodes[1].streaming_from_primary = false;
  f.nodes[2].table_checksums["haverify_ledger"] = "zz";
  const auto v = run_checker(ConvergenceChecker(), fault_history().ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "diverged_nodes") == 2);
  CHECK(has_reason(v, "n2 has not converged: timeline 2 (primary 3); not streaming from the primary"));
}

TEST_CASE("convergence: unknown without a reachable primary or checksums", "[unit]") {
  const Hist h = fault_history();
  FinalState f = converged_cluster();
  std::string expect;
  SECTION("primary unknown") {
    f.primary.clear();
    expect = "the final primary is unknown";
  }
  SECTION("primary unreachable") {
    f.nodes[0].reachable = false;
    expect = "the final primary n1 is unreachable";
  }
  SECTION("primary not in the final state") {
    f.primary = "n7";
    expect = "n7 is not in the final state";
  }
  SECTION("no checksums") {
    for (auto& n : f.nodes) n.table_checksums.clear();
    expect = "no table checksums";
  }
  const auto v = run_checker(ConvergenceChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, expect));
}

TEST_CASE("convergence: converged_s counts from the last planned operation of a normal run", "[unit]") {
  Hist h;  // no fault at all: a switchover, then a failed stop_node, then a start_node
  h.cluster_op("switchover", "n2", 1000, 2000);
  h.cluster_op("stop_node", "n3", 2500, 2600, OpType::fail);
  h.cluster_op("start_node", "n3", 3000, 4200);
  h.add("driver", OpType::info, "detect", "membership", 4500, "n1");  // a detection is no operation
  const auto v = run_checker(ConvergenceChecker(), h.ops, converged_cluster());
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "converged_s") == Approx(0.8));  // 5000 - 4200
}

TEST_CASE("convergence: a wait that never saw convergence leaves converged_s out", "[unit]") {
  FinalState f = converged_cluster();
  f.converged_mono.reset();
  const auto v = run_checker(ConvergenceChecker(), fault_history().ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);  // the final state decides; a bound on converged_s catches the timing
  CHECK(v.figures.count("converged_s") == 0);
  CHECK(has_reason(v, "did not see every standby converged"));
}

// ---------------------------------------------------------------------------
// Bank

TEST_CASE("bank: reads and final total equal to the expected total pass", "[unit]") {
  Hist h;
  h.transfer(0, "1,2,30", 0);
  h.bank_read(0, "10000", 10);
  h.transfer(1, "3,4,5", 20, OpType::info);
  h.transfer(1, "3,5,5", 30, OpType::fail);
  h.add("bank-2", OpType::invoke, "transfer", "1,0,7", 40);  // never completed
  h.bank_read(1, "10000", 50);
  h.add("bank-3", OpType::invoke, "read", "", 60);
  h.add("bank-3", OpType::info, "read", "", 61, "", "connection lost");  // not an ok read
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 10000;
  const auto v = run_checker(BankChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.checker == "bank");
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "bank_reads") == 2);
  CHECK(fig(v, "bank_bad_reads") == 0);
  CHECK(fig(v, "bank_ok") == 1);
  CHECK(fig(v, "bank_transfers_ok") == 1);
  CHECK(fig(v, "bank_transfers_failed") == 1);
  CHECK(fig(v, "bank_transfers_unknown") == 2);
}

TEST_CASE("bank: a bad read fails naming its value and time", "[unit]") {
  Hist h;
  h.bank_read(0, "10000", 10);
  h.bank_read(1, "9970", 1234);
  h.bank_read(2, "garbage", 1500);
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 10000;
  const auto v = run_checker(BankChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_reads") == 3);
  CHECK(fig(v, "bank_bad_reads") == 2);
  CHECK(fig(v, "bank_ok") == 0);
  CHECK(has_reason(v, "2 of 3 reads saw a total other than 10000"));
  CHECK(has_reason(v, fmt::format("bank-1 read '9970' at {} (t=1.225 s)", format_wall_ns(kWall0 + 1235 * kMs))));
  CHECK(has_reason(v, "read 'garbage'"));
}

TEST_CASE("bank: a bad final total fails, no final total is unknown", "[unit]") {
  Hist h;
  h.bank_read(0, "10000", 10);
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 9999;
  auto v = run_checker(BankChecker(), h.ops, f);
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_ok") == 0);
  CHECK(has_reason(v, "final total 9999 (expected 10000)"));

  f.bank_total.reset();
  v = run_checker(BankChecker(), h.ops, f);
  CHECK(v.status == CheckStatus::unknown);
  CHECK(v.figures.count("bank_ok") == 0);
  CHECK(has_reason(v, "the final bank total was not read"));

  v = run_checker(BankChecker(), std::vector<Op>{}, f);
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "no bank workload"));

  // A bad read fails even without a final total.
  h.bank_read(0, "1", 20);
  CHECK(run_checker(BankChecker(), h.ops, f).status == CheckStatus::fail);
}

// ---------------------------------------------------------------------------
// Running and composing

TEST_CASE("run_checker turns an exception into unknown", "[unit]") {
  const Throwing std_thrower(true), other_thrower(false);
  auto v = run_checker(std_thrower, {}, FinalState{});
  CHECK(v.checker == "throwing");
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "checker threw: boom: history is odd"));

  v = run_checker(other_thrower, {}, FinalState{});
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "non-standard exception"));

  const DurabilityChecker d;
  const BankChecker b;
  FinalState f = two_nodes({}, {});
  f.bank_expected_total = 0;
  f.bank_total = 0;
  const auto all = run_checkers({&d, &std_thrower, nullptr, &b}, {}, f);
  REQUIRE(all.size() == 3);
  CHECK(all[0].checker == "durability");
  CHECK(all[0].status == CheckStatus::pass);
  CHECK(all[1].status == CheckStatus::unknown);
  CHECK(all[2].status == CheckStatus::pass);
  CHECK(compose(all) == CheckStatus::unknown);
  const auto figs = merged_figures(all);
  CHECK(figs.at("lost_acked") == 0);
  CHECK(figs.at("bank_ok") == 1);
  CHECK(format_verdict(all[1]) == "throwing unknown: checker threw: boom: history is odd");
}

TEST_CASE("compose: fail beats unknown beats pass", "[unit]") {
  using S = CheckStatus;
  CHECK(compose({}) == S::pass);
  CHECK(compose({verdict(S::pass), verdict(S::pass)}) == S::pass);
  CHECK(compose({verdict(S::pass), verdict(S::unknown)}) == S::unknown);
  CHECK(compose({verdict(S::unknown), verdict(S::fail), verdict(S::pass)}) == S::fail);
  CHECK(compose({verdict(S::fail)}) == S::fail);
  CHECK(std::string(to_string(S::unknown)) == "unknown");
}
