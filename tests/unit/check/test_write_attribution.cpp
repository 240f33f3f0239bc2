#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "checker_fixtures.hpp"
#include "haverify/check/checkers.hpp"

using namespace haverify;
using namespace haverify::testing;

// Issue 13, What to build 3: split brain proven by the acknowledged writes themselves.

namespace {

// Writes by `client` every 10 ms in [from, to) ms, ids from `first_id`.
void writes(Hist& h, int client, Nanos from, Nanos to, std::int64_t first_id) {
  for (Nanos t = from; t < to; t += 10) h.write(client, first_id + (t - from) / 10, t, t + 3);
}

SingleWriterOptions with_addresses() {
  SingleWriterOptions o;
  o.node_of_address = {{"198.18.1.11", "n1"}, {"198.18.1.12", "n2"}};
  return o;
}

}  // namespace

TEST_CASE("single writer: acknowledged writes on two nodes at once fail, though the probes saw one writer", "[unit]") {
  // The old primary n1 keeps taking writes through a client path the probes cannot see
  // (its probes fail from 1000 ms: unknown on their own), while n2 is promoted and takes writes too.
  Hist h;
  for (Nanos t = 0; t <= 1000; t += 50) h.probe("n1", t, true, 111);
  for (Nanos t = 1050; t <= 3000; t += 50) h.probe_fail("n1", t);
  for (Nanos t = 0; t < 1500; t += 50) h.probe("n2", t, false, 222);
  for (Nanos t = 1500; t <= 3000; t += 50) h.probe("n2", t, true, 222);
  h.server(1, "198.18.1.11", 111, 0);
  writes(h, 1, 1, 3000, 1);
  h.server(2, "198.18.1.12", 222, 1600);
  writes(h, 2, 1600, 3000, 100000);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(with_addresses()), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "split_brain_windows") == 0);  // the probes alone do not show it
  CHECK(fig(v, "write_overlap_windows") == 1);
  CHECK(fig(v, "write_overlap_s") == Approx(1.384).margin(0.01));  // first ack on n2 1603 .. last invoke on n1 2990
  CHECK(fig(v, "write_nodes") == 2);
  CHECK(fig(v, "attributed_writes") == 300 + 140);
  CHECK(fig(v, "unattributed_writes") == 0);
  CHECK(has_reason(v, "split brain in the writes: acknowledged writes on two nodes in overlapping time, n1 ("));
  CHECK(has_reason(v, "acknowledged writes by node: n1 300 (198.18.1.11:5432), n2 140 (198.18.1.12:5432)"));
}

TEST_CASE("single writer: writes that move from one node to another pass and say where they moved", "[unit]") {
  Hist h;
  h.probes("n1", 0, 1000, true);
  h.add("nemesis", OpType::ok, "inject", "power_off n1", 1010, "n1");
  h.probes("n2", 0, 1400, false);
  h.probes("n2", 1450, 3000, true);
  h.server(1, "198.18.1.11", 111, 0);
  writes(h, 1, 1, 1000, 1);
  h.server(1, "198.18.1.12", 222, 1500);  // the client reconnected after the failover
  writes(h, 1, 1500, 3000, 1000);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(with_addresses()), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "write_overlap_windows") == 0);
  CHECK(fig(v, "write_nodes") == 2);
  // No instance from the probes: attributed by the address the server saw.
  CHECK(has_reason(v,
                   "acknowledged writes by node: n1 100 (198.18.1.11:5432), n2 150 (198.18.1.12:5432); no "
                   "acknowledged writes on two nodes in overlapping time: n1 -> n2: last ack on n1 t=0.994 s, "
                   "first on n2 t=1.503 s, 0.509 s apart"));
}

TEST_CASE("single writer: the probes' instance wins over an address, and unknown servers are counted apart", "[unit]") {
  Hist h;
  h.probes("n1", 0, 3000, true);
  h.probes("n2", 0, 3000, false);
  h.probe("n1", 3000, true, 111);
  // Behind a VIP the server sees the VIP's address: the instance names the node.
  h.server(1, "198.18.1.100", 111, 0);
  writes(h, 1, 1, 1000, 1);
  // A server no probe and no inventory address names.
  h.server(2, "198.18.9.9", 999, 0);
  writes(h, 2, 1, 500, 5000);
  // A connection whose first write did not say.
  h.add("client-3", OpType::fail, "server", "", 0, "vip:5432/app", "the write returned no server identity");
  writes(h, 3, 1, 200, 9000);
  h.sort();
  const auto v = run_checker(SingleWriterChecker(with_addresses()), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "attributed_writes") == 100);
  CHECK(fig(v, "unattributed_writes") == 50 + 20);
  CHECK(has_reason(v, "acknowledged writes by node: n1 100 (198.18.1.100:5432)"));
  CHECK(has_reason(v, "50 not attributed: 198.18.9.9:5432: no node has this address or instance"));
  CHECK(has_reason(v, "20 not attributed: the write returned no server identity"));
  CHECK(has_reason(v, "one node took them all"));
}

TEST_CASE("single writer: a node's writes with a gap longer than write_gap are two windows", "[unit]") {
  // n1 -> n2 -> n1 (two switchovers): n2's writes fall in n1's gap, not in a window of n1.
  Hist h;
  h.probes("n1", 0, 3000, true);
  h.probes("n2", 0, 3000, false);
  h.server(1, "198.18.1.11", 111, 0);
  writes(h, 1, 1, 1000, 1);
  h.server(1, "198.18.1.12", 222, 1200);
  writes(h, 1, 1200, 1800, 1000);
  h.server(1, "198.18.1.11", 111, 2000);
  writes(h, 1, 2000, 3000, 2000);
  h.sort();
  SingleWriterOptions o = with_addresses();
  auto v = run_checker(SingleWriterChecker(o), h.ops, FinalState{});
  INFO(dump(v));
  CHECK(fig(v, "write_overlap_windows") == 0);
  CHECK(has_reason(v, "n1 -> n2: last ack on n1 t=0.994 s"));
  CHECK(has_reason(v, "n2 -> n1: last ack on n2 t=1.793 s"));
  // With a write_gap longer than n1's pause, n1 counts as taking writes all along: an overlap.
  o.write_gap = 2'000'000'000;
  v = run_checker(SingleWriterChecker(o), h.ops, FinalState{});
  CHECK(fig(v, "write_overlap_windows") == 1);
  CHECK(v.status == CheckStatus::fail);
}
