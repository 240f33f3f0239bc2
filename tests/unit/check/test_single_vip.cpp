// The single_vip checker and vip_s over synthetic VIP samples.
#include <catch2/catch.hpp>

#include "checker_fixtures.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/check/single_vip.hpp"

using namespace haverify;
using namespace haverify::testing;

namespace {

void vip(Hist& h, const std::string& node, Nanos ms, const std::string& state) {
  if (state == "?")
    h.add("probe", OpType::fail, "vip", "", ms, node, "ssh: connect timed out");
  else
    h.add("probe", OpType::ok, "vip", state, ms, node);
}

// node3 leads; node1..2 free; the leader is powered off at 1000 ms and node2 takes the VIP at 4200 ms.
Hist leader_power_off() {
  Hist h;
  h.steady_then_inject(1000, "power_off node3");
  h.ops.back().node = h.ops[h.ops.size() - 2].node = "node3";
  vip(h, "node3", 5, "held");
  vip(h, "node1", 6, "free");
  vip(h, "node2", 7, "free");
  vip(h, "node3", 1400, "?");  // powered off: it answers nothing, and holds nothing
  vip(h, "node2", 4200, "held");
  h.write(1, 500, 4300, 4310);
  h.add("runner", OpType::ok, "recover", "", 9000);
  vip(h, "node3", 9500, "free");  // back after the power-on, without the VIP
  h.sort();
  return h;
}

}  // namespace

TEST_CASE("single_vip: a leader power-off moves the VIP once; vip_s from the fault", "[unit]") {
  const Hist h = leader_power_off();
  const auto v = SingleVipChecker().check(h.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "vip_moves") == 1);
  CHECK(fig(v, "vip_split_s") == 0);
  CHECK(fig(v, "vip_unseen_s") == 0);
  const auto m = compute_metrics(h.ops, std::nullopt);
  REQUIRE(m.value("vip_s"));
  CHECK(*m.value("vip_s") == Approx(3.2));
}

TEST_CASE("single_vip: two holders at once fail with the window; an unseen node beside a holder is unknown", "[unit]") {
  Hist split;
  vip(split, "node3", 5, "held");
  vip(split, "node2", 6, "free");
  vip(split, "node2", 2000, "held");  // node3 never let go: both answer ARP for it
  vip(split, "node3", 2600, "free");
  split.add("runner", OpType::ok, "recover", "", 5000);
  const auto v = SingleVipChecker().check(split.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "vip_split_windows") == 1);
  CHECK(fig(v, "vip_split_s") == Approx(0.6));
  CHECK(has_reason(v, "held by node2 and node3 at once"));

  // node3 stops answering for 3 s while node2 holds it, and nothing took node3 down.
  Hist blind;
  vip(blind, "node2", 5, "held");
  vip(blind, "node3", 6, "free");
  vip(blind, "node3", 1000, "?");
  vip(blind, "node3", 4000, "free");
  blind.add("runner", OpType::ok, "recover", "", 5000);
  const auto b = SingleVipChecker().check(blind.ops, {});
  CHECK(b.status == CheckStatus::unknown);
  CHECK(fig(b, "vip_unseen_s") == Approx(3.0));

  // One failed probe, answered as before 300 ms later: an SSH hiccup, forgiven.
  Hist hiccup;
  vip(hiccup, "node2", 5, "held");
  vip(hiccup, "node3", 6, "free");
  vip(hiccup, "node3", 1000, "?");
  vip(hiccup, "node3", 1300, "free");
  hiccup.add("runner", OpType::ok, "recover", "", 5000);
  CHECK(SingleVipChecker().check(hiccup.ops, {}).status == CheckStatus::pass);

  // No sample at all: no evidence.
  Hist none;
  none.steady_then_inject(1000);
  CHECK(SingleVipChecker().check(none.ops, {}).status == CheckStatus::unknown);
}
