// Numbers for people: counts as integers, seconds with millisecond precision.
#include <catch2/catch.hpp>

#include "haverify/check/metrics.hpp"
#include "haverify/core/numbers.hpp"

using namespace haverify;

TEST_CASE("numbers: counts are integers, seconds and ms have 3 decimals, the rest is exact", "[unit]") {
  CHECK(format_number(1010131.0) == "1010131");  // once printed as 1.01013e+06
  CHECK(format_number(1234567.0) == "1234567");  // a plan.csv bound reads back the same
  CHECK(format_number(0.25) == "0.25");
  CHECK(format_number(-3.0) == "-3");
  CHECK(format_number(1e20) == "1e+20");
  CHECK(format_figure("failover_s", 3.4567) == "3.457");
  CHECK(format_figure("p99_latency_ms", 17.0) == "17.000");
  CHECK(format_figure("lost_acked", 1010131.0) == "1010131");
  CHECK(format_figure("x_s", 2.0) == "2.000");
  // In a bound's reason.
  RunMetrics m;
  m.lost_acked = 1010131;
  const auto v = evaluate(m, {{"lost_acked", Bound{std::nullopt, 0.0}}});
  CHECK(v.reason == "lost_acked = 1010131 outside bound <= 0");
}
