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

TEST_CASE("convergence: a wait that never saw convergence fails, with what was still missing", "[unit]") {
  FinalState f = converged_cluster();
  f.converged_mono.reset();
  f.convergence_gap = "n3 is not streaming from n1";
  const auto v = run_checker(ConvergenceChecker(), fault_history().ops, f);
  INFO(dump(v));
  // Issue 13: it was pass (the final read decided); a cluster that did not converge within
  // converge_timeout has not passed, even if a later read looks converged.
  CHECK(v.status == CheckStatus::fail);
  CHECK(v.figures.count("converged_s") == 0);
  CHECK(has_reason(v, "did not see every standby converged within its deadline: still n3 is not streaming from n1"));
}
