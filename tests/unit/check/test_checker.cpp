#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "checker_fixtures.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"

using namespace haverify;
using namespace haverify::testing;

namespace {

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
  CHECK(all[0].status == CheckStatus::unknown);  // an empty history acknowledged nothing (issue 13)
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
