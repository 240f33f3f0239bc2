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
// Single writer

TEST_CASE("single writer: a clean handover passes", "[unit]") {
  Hist h;
  h.probes("n1", 0, 1000, true);
  // haverify powered n1 off (issue 13: failing probes alone no longer count as "not writable").
  h.add("nemesis", OpType::ok, "inject", "power_off n1", 1020, "n1");
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
  CHECK(fig(v, "unknown_windows") == 0);
  CHECK(fig(v, "probe_nodes") == 2);
  CHECK(fig(v, "probe_samples") == 21 + 20 + 29 + 32);

  const auto w = writable_windows(h.ops, 50 * kMs);
  REQUIRE(w.count("n1"));
  REQUIRE(w.at("n1").size() == 1);
  CHECK(w.at("n1")[0].from == -50 * kMs);  // the first sample covers one spacing back
  CHECK(w.at("n1")[0].to == 1050 * kMs);   // writable until its next sample
  REQUIRE(w.at("n2").size() == 1);
  CHECK(w.at("n2")[0].from == 1400 * kMs);  // since its previous (non-writable) sample
  CHECK(w.at("n2")[0].to == 3050 * kMs);    // last sample: one spacing on
}

TEST_CASE("single writer: probes that fail on a node last seen writable are unknown, never pass", "[unit]") {
  // Issue 13, "Why" 2: the old primary still serves its clients but haverify's probes cannot
  // reach it (a partition between the harness and the node) while a standby is promoted.
  Hist h;
  h.probes("n1", 0, 1000, true);
  for (Nanos t = 1050; t <= 3000; t += 50) h.probe_fail("n1", t);
  h.probes("n2", 0, 1400, false);
  h.probes("n2", 1450, 3000, true);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::unknown);
  CHECK(fig(v, "split_brain_windows") == 0);
  CHECK(fig(v, "unknown_windows") == 1);
  CHECK(fig(v, "unknown_s") == Approx(1.600));  // 1400 (n2 writable) .. 3000 (the last sample)
  CHECK(has_reason(v, "split brain not excluded: n1 unseen by the probes"));
  CHECK(has_reason(v, "for 1.600 s"));
  CHECK(has_reason(v, "while n2 was writable"));

  SECTION("a refused connection is not writable once the probes work: a switchover passes") {
    Hist g;
    g.probes("n1", 0, 1000, true);
    for (Nanos t = 1050; t <= 1500; t += 50)
      g.add("probe", OpType::fail, "state", "", t, "n1",
            "psql: error: connection to server on socket "
            "\"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory");
    g.probes("n1", 1550, 3000, false);  // back as a standby
    g.probes("n2", 0, 1400, false);
    g.probes("n2", 1450, 3000, true);
    g.sort();
    const auto u = run_checker(SingleWriterChecker(), g.ops, FinalState{});
    INFO(dump(u));
    CHECK(u.status == CheckStatus::pass);
    // A shared disk's passive node refuses from the start: its true state, once the probes
    // work on the cluster (n1 answered).
    Hist k;
    for (Nanos t = 0; t <= 1000; t += 50) k.add("probe", OpType::fail, "state", "", t, "n3", "Connection refused");
    k.probes("n1", 0, 1000, true);
    k.sort();
    CHECK(run_checker(SingleWriterChecker(), k.ops, FinalState{}).status == CheckStatus::pass);
    // If no probe ever answered, a refusal may be a wrong probe: it says nothing.
    Hist z;
    for (Nanos t = 0; t <= 1000; t += 50) z.add("probe", OpType::fail, "state", "", t, "n3", "Connection refused");
    z.sort();
    CHECK(run_checker(SingleWriterChecker(), z.ops, FinalState{}).status == CheckStatus::unknown);
  }
  SECTION("a node never sampled while another was writable is unknown too") {
    Hist g;
    g.probes("n1", 0, 1000, true);
    for (Nanos t = 0; t <= 1000; t += 50) g.probe_fail("n3", t);
    g.sort();
    const auto u = run_checker(SingleWriterChecker(), g.ops, FinalState{});
    INFO(dump(u));
    CHECK(u.status == CheckStatus::unknown);
    CHECK(has_reason(u, "n3 unseen by the probes"));
  }
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
  auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  // Issue 13: nothing says n1 stopped being writable after 1000: unknown (it was pass).
  CHECK(v.status == CheckStatus::unknown);
  CHECK(fig(v, "max_probe_gap_s") == Approx(2.0));
  const auto w = writable_windows(h.ops, 50 * kMs);
  CHECK(w.at("n1").back().to == 1050 * kMs);
  // haverify powered it off after its last writable sample: known down, pass.
  h.add("nemesis", OpType::ok, "inject", "power_off n1", 1010, "n1");
  h.sort();
  v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
}

TEST_CASE("single writer: slow writable samples of one node stay one window", "[unit]") {
  Hist h;
  for (Nanos t = 0; t <= 3000; t += 300) h.probe("n1", t, true);  // each sample took 300 ms
  h.probes("n2", 0, 3000, false);
  h.sort();
  const auto w = writable_windows(h.ops, 50 * kMs);
  REQUIRE(w.at("n1").size() == 1);
  // Issue 13, "Why" 3: the window extends by the node's measured spacing (300 ms), not the configured 50 ms.
  CHECK(w.at("n1")[0].from == -300 * kMs);
  CHECK(w.at("n1")[0].to == 3300 * kMs);
  CHECK(w.count("n2") == 0);
  CHECK(run_checker(SingleWriterChecker(), h.ops, FinalState{}).status == CheckStatus::pass);
}

TEST_CASE("single writer: unknown without probe samples, malformed samples are unknown", "[unit]") {
  Hist h;
  h.write(1, 1, 0, 5);
  h.add("probe", OpType::ok, "role", "primary", 10, "n1");  // the old role probe is not a state sample
  auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "no probe state samples"));

  h.add("probe", OpType::ok, "state", "not json", 20, "n1");
  h.add("probe", OpType::ok, "state", R"({"in_recovery":false})", 30, "n2");
  v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  // Issue 13: they were "not writable" and the run passed; they say nothing.
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "none of the 2 probe state samples said whether a node was writable"));
  h.add("probe", OpType::ok, "state", R"({"writable":false})", 40, "n1");
  v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  CHECK(has_reason(v, "2 probe samples without a boolean `writable` were taken as unknown"));
}

TEST_CASE("single writer: a standby blinded by its self-healing cut is unseen, not taken as still not writable",
          "[unit]") {
  // Issue 17: a cut of the LAN the probes use heals itself on the node; meanwhile the probes
  // of that node fail (a timeout says nothing), and the node could have been promoted.
  const std::string cut = "lan_cut service (svc0, link) on n2, self-healing after 1.000 s";
  Hist h;
  h.probes("n1", 0, 3000, true);
  h.probes("n2", 0, 1000, false);
  h.add("nemesis", OpType::ok, "inject", cut, 1010, "n2");
  for (Nanos t = 1050; t <= 2500; t += 50) h.probe_fail("n2", t);
  h.add("nemesis", OpType::ok, "heal", cut, 2520, "n2");
  h.probes("n2", 2550, 3000, false);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::unknown);
  CHECK(fig(v, "unknown_windows") == 1);
  CHECK(fig(v, "unknown_s") == Approx(1.540));  // 1010 (the cut) .. 2550 (seen again)
  CHECK(has_reason(v, "n2 unseen by the probes"));
  CHECK(has_reason(v, "self-healing cut"));

  SECTION("probes over another LAN still see the node: it passes") {
    Hist g;
    g.probes("n1", 0, 3000, true);
    g.probes("n2", 0, 3000, false);
    g.add("nemesis", OpType::ok, "inject", cut, 1010, "n2");
    g.add("nemesis", OpType::ok, "heal", cut, 2520, "n2");
    g.sort();
    const auto u = run_checker(SingleWriterChecker(), g.ops, FinalState{});
    INFO(dump(u));
    CHECK(u.status == CheckStatus::pass);
    CHECK(fig(u, "unknown_windows") == 0);
  }
  SECTION("without the cut, the same failures are read as before (last seen not writable)") {
    Hist g;
    g.probes("n1", 0, 3000, true);
    g.probes("n2", 0, 1000, false);
    for (Nanos t = 1050; t <= 2500; t += 50) g.probe_fail("n2", t);
    g.probes("n2", 2550, 3000, false);
    g.sort();
    CHECK(run_checker(SingleWriterChecker(), g.ops, FinalState{}).status == CheckStatus::pass);
  }
}
