#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "checker_fixtures.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"

using namespace haverify;
using namespace haverify::testing;

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

TEST_CASE("durability: the ledger table gone from the final primary fails with every acknowledged write lost",
          "[unit]") {
  // A site power loss with fsync = off: the promoted node answers, without the table.
  const Hist h = ledger_history();
  FinalState f = two_nodes({}, {});
  f.nodes[0].ledger_note = "table haverify_ledger does not exist on n1: every row of the run is gone with it";
  const auto v = run_checker(DurabilityChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "lost_acked") == 5);  // every acknowledged write of ledger_history
  REQUIRE_FALSE(v.reasons.empty());
  CHECK(v.reasons.front().find("does not exist on n1") != std::string::npos);
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

TEST_CASE("durability: no acknowledged write is unknown, never pass", "[unit]") {
  // Issue 13: with zero acknowledged writes durability passed (nothing was lost).
  Hist h;
  h.write(1, 1, 100, 200, OpType::fail);
  h.write(1, 2, 300, 400, OpType::info);
  const auto v = run_checker(DurabilityChecker(), h.ops, two_nodes({}, {}));
  INFO(dump(v));
  CHECK(v.status == CheckStatus::unknown);
  CHECK(fig(v, "acked") == 0);
  CHECK(has_reason(v, "no acknowledged write: durability is not shown"));
}
