// The expectation checker: the outcome a scenario (or a plan row) names is
// asserted from the history and the final state (issue 13, "Why" 1 and 4).
#include <catch2/catch.hpp>

#include "../history_builder.hpp"
#include "haverify/check/expectation.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/op.hpp"

using namespace haverify;
using haverify::testing::HistoryBuilder;

namespace {

struct Run {
  HistoryBuilder b;
  FinalState final;
  Run() {
    b.add("probe", OpType::ok, "role", "primary", 0, "node1");
    b.add("probe", OpType::ok, "role", "standby", 0, "node2");
    final.primary = "node1";
  }
  // Writes every 10 ms in [from, to) ms by client 1.
  void writes(Nanos from, Nanos to) {
    for (Nanos t = from; t < to; t += 10) b.write(1, next_id++, t, t + 2);
  }
  void inject(Nanos at) {
    b.add("nemesis", OpType::invoke, "inject", "power_off node1", at, "node1");
    b.add("nemesis", OpType::ok, "inject", "power_off node1", at + 10, "node1");
  }
  void promote(const std::string& node, Nanos at) { b.add("probe", OpType::ok, "role", "primary", at, node); }
  CheckerVerdict judge(const std::string& outcome) {
    std::optional<Expectation> e;
    if (!outcome.empty()) e = Expectation{outcome};
    return judge_expectation(e, compute_metrics(b.ops, std::nullopt), final);
  }
  std::int64_t next_id = 1;
};

bool has_reason(const CheckerVerdict& v, const std::string& text) {
  for (const auto& r : v.reasons)
    if (r.find(text) != std::string::npos) return true;
  return false;
}

// A failover: writes until 1000 ms, the fault at 1000, node2 promoted at
// 4000, writes again from 4500.
Run failover_run() {
  Run r;
  r.writes(0, 1000);
  r.inject(1000);
  r.promote("node2", 4000);
  r.writes(4500, 6000);
  r.final.primary = "node2";
  return r;
}

// The primary stays: writes stall from 1000 to `resume` ms.
Run same_primary_run(Nanos resume) {
  Run r;
  r.writes(0, 1000);
  r.inject(1000);
  r.writes(resume, resume + 1000);
  return r;
}

}  // namespace

TEST_CASE("expectation failover: passes when the primary changed and writes resumed in time", "[unit]") {
  auto r = failover_run();
  const auto v = r.judge("failover");
  INFO(v.reasons.front());
  CHECK(v.status == CheckStatus::pass);
  CHECK(v.checker == "expectation");
  CHECK(has_reason(v, "failover as expected: node1 -> node2, writes resumed 3.502 s after the fault"));
  CHECK(v.figures.at("expected_met") == 1);
}

TEST_CASE("expectation failover: fails when the primary never changed, naming both outcomes", "[unit]") {
  auto r = same_primary_run(3000);
  const auto v = r.judge("failover");
  CHECK(v.status == CheckStatus::fail);
  CHECK(has_reason(v, "expected failover, observed: the primary stayed node1, writes resumed 2.002 s after the fault"));
  CHECK(v.figures.at("expected_met") == 0);
}

TEST_CASE("expectation failover: fails when writes resume later than the bound", "[unit]") {
  auto r = failover_run();
  std::optional<Expectation> e = Expectation{"failover"};
  e->resume_within = std::chrono::milliseconds(2000);
  const auto v = judge_expectation(e, compute_metrics(r.b.ops, std::nullopt), r.final);
  CHECK(v.status == CheckStatus::fail);
  CHECK(has_reason(v,
                   "expected failover, observed: node1 -> node2, writes resumed 3.502 s after the fault "
                   "(resume bound 2.000 s)"));
}

TEST_CASE("expectation no-failover: a 30 s outage or an unplanned failover fails", "[unit]") {
  SECTION("the same primary, writes back after 1 s: pass") {
    auto r = same_primary_run(2000);
    const auto v = r.judge("no-failover");
    CHECK(v.status == CheckStatus::pass);
    CHECK(has_reason(v, "no-failover as expected: the primary stayed node1"));
  }
  SECTION("the same primary, but a 31 s outage") {
    auto r = same_primary_run(32000);
    const auto v = r.judge("no-failover");
    CHECK(v.status == CheckStatus::fail);
    CHECK(has_reason(v,
                     "expected no-failover, observed: the primary stayed node1, writes resumed 31.002 s after "
                     "the fault (longest write gap 31.010 s, bound 30.000 s)"));
  }
  SECTION("an unplanned failover") {
    auto r = failover_run();
    const auto v = r.judge("no-failover");
    CHECK(v.status == CheckStatus::fail);
    CHECK(has_reason(v, "expected no-failover, observed: node1 -> node2"));
  }
  SECTION("another node answered as primary, and the old one is primary again") {
    auto r = same_primary_run(2000);
    r.promote("node2", 1500);
    const auto v = r.judge("no-failover");
    CHECK(v.status == CheckStatus::fail);
    CHECK(has_reason(v, "node2 answered as primary meanwhile, node1 is primary again"));
  }
}

TEST_CASE("expectation local-restart and failover-or-restart", "[unit]") {
  auto same = same_primary_run(3000);
  CHECK(same.judge("local-restart").status == CheckStatus::pass);
  CHECK(same.judge("failover-or-restart").status == CheckStatus::pass);
  auto moved = failover_run();
  CHECK(moved.judge("failover-or-restart").status == CheckStatus::pass);
  const auto v = moved.judge("local-restart");
  CHECK(v.status == CheckStatus::fail);
  CHECK(has_reason(v, "expected local-restart, observed: node1 -> node2"));
}

TEST_CASE("expectation outage: writes must stop, and the row says whether they came back", "[unit]") {
  SECTION("stopped for 2 s, came back") {
    auto r = same_primary_run(3000);
    const auto v = r.judge("outage");
    CHECK(v.status == CheckStatus::pass);
    CHECK(has_reason(v, "writes stopped for 2.002 s and came back"));
  }
  SECTION("never came back") {
    Run r;
    r.writes(0, 1000);
    r.inject(1000);
    r.b.add("runner", OpType::fail, std::string(op::fn::writes_resumed), "", 61000, "",
            "writes never resumed within 60.000 s");
    r.final.primary = "";
    const auto v = r.judge("outage");
    CHECK(v.status == CheckStatus::pass);
    CHECK(has_reason(v, "writes stopped and never came back"));
  }
  SECTION("writes went on: no outage") {
    auto r = same_primary_run(1010);
    const auto v = r.judge("outage");
    CHECK(v.status == CheckStatus::fail);
    CHECK(has_reason(v, "expected outage, observed"));
  }
}

TEST_CASE("await_writes that timed out fails the run, with or without an expectation", "[unit]") {
  auto r = same_primary_run(3000);
  r.b.add("runner", OpType::fail, std::string(op::fn::writes_resumed), "", 2500, "",
          "writes never resumed within 1.000 s");
  r.b.sort();
  const auto none = r.judge("");
  CHECK(none.status == CheckStatus::fail);
  CHECK(has_reason(none, "writes never resumed within 1.000 s"));
  const auto local = r.judge("local-restart");
  CHECK(local.status == CheckStatus::fail);
  CHECK(has_reason(local, "writes never resumed within 1.000 s"));
  CHECK(r.judge("outage").status == CheckStatus::pass);  // an outage was the point
  // Without a timed-out await_writes and without an expectation: pass.
  auto ok = same_primary_run(3000);
  const auto v = ok.judge("");
  CHECK(v.status == CheckStatus::pass);
  CHECK(has_reason(v, "writes resumed at every await_writes step"));
}

TEST_CASE("expectation without its evidence is unknown, never pass", "[unit]") {
  SECTION("no fault") {
    Run r;
    r.writes(0, 1000);
    const auto v = r.judge("failover");
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "expected failover: no fault was injected"));
    // no-failover needs none: the primary stayed and the writes flowed.
    const auto n = r.judge("no-failover");
    CHECK(n.status == CheckStatus::pass);
    CHECK(has_reason(n, "no-failover as expected: the primary stayed node1, no fault injected"));
  }
  SECTION("no acknowledged write") {
    Run r;
    r.inject(1000);
    const auto v = r.judge("no-failover");
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "no acknowledged write"));
  }
  SECTION("no primary before the fault") {
    auto r = failover_run();
    r.b.ops.erase(r.b.ops.begin());  // node1's role report
    const auto v = r.judge("failover");
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "no node answered as primary before the fault"));
  }
  SECTION("no primary after the run") {
    auto r = failover_run();
    r.final.primary = "";
    const auto v = r.judge("failover");
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "no primary after the run"));
  }
}
