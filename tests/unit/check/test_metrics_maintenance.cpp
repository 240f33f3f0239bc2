// maintenance_in_flight: the maintenance ops running when the measured fault
// was sent (the switchover-timing suite's evidence that its condition, e.g. a
// CHECKPOINT, was in flight at the power-off; docs/metrics.md).
#include <catch2/catch.hpp>

#include "../history_builder.hpp"
#include "haverify/check/metrics.hpp"

using namespace haverify;

namespace {
using Builder = haverify::testing::HistoryBuilder;

void maintenance(Builder& b, const std::string& op, Nanos t0, std::optional<Nanos> t1, OpType outcome = OpType::ok) {
  b.add("maintenance", OpType::invoke, op, op, t0, "node1:5432");
  if (t1) b.add("maintenance", outcome, op, op + "; done", *t1, "node1:5432", outcome == OpType::fail ? "lost" : "");
}
}  // namespace

// The figure of `b`'s history with the fault sent at 1000 ms.
static std::optional<double> in_flight_at_fault(Builder b) {
  b.steady_then_inject(1000);
  b.sort();
  return compute_metrics(b.ops, std::nullopt).value("maintenance_in_flight");
}

TEST_CASE("maintenance_in_flight counts the maintenance ops running at the measured fault", "[unit]") {
  Builder b;
  SECTION("a CHECKPOINT the power-off cut short is in flight; one that ended before is not") {
    maintenance(b, "churn", 100, 400);
    maintenance(b, "checkpoint", 450, 2500, OpType::fail);  // its connection died with the primary
    CHECK(in_flight_at_fault(b) == std::optional<double>(1));
  }
  SECTION("a CHECKPOINT that ended before the fault was sent: 0") {
    maintenance(b, "checkpoint", 450, 990);
    CHECK(in_flight_at_fault(b) == std::optional<double>(0));
  }
  SECTION("one that never ended (the run stopped first), and one begun after the fault") {
    maintenance(b, "vacuum", 500, std::nullopt);
    maintenance(b, "checkpoint", 1200, 1300);
    CHECK(in_flight_at_fault(b) == std::optional<double>(1));
  }
  SECTION("no maintenance, or no fault: no figure (a results cell left empty)") {
    CHECK_FALSE(in_flight_at_fault(b));
    maintenance(b, "checkpoint", 10, 20);
    CHECK_FALSE(compute_metrics(b.ops, std::nullopt).value("maintenance_in_flight"));
  }
}
