// AckStream: acks released in time order through the reorder window, and
// the gap figures folded from it.
#include <catch2/catch.hpp>

#include "../history_builder.hpp"
#include "haverify/check/ack_stream.hpp"
#include "haverify/check/metrics.hpp"

using namespace haverify;
using haverify::testing::HistoryBuilder;
using haverify::testing::kMs;

namespace {
struct Released {
  std::vector<std::pair<Nanos, Nanos>> gaps;  // (prev, ack), ms
  std::vector<Nanos> acks;                    // ms
  AckStream stream{[this](const std::optional<Instant>& prev, const Instant& a) {
                     acks.push_back(a.mono / kMs);
                     if (prev) gaps.emplace_back(prev->mono / kMs, a.mono / kMs);
                   },
                   1000 * kMs};
  void add(Nanos ms) { stream.add(Instant{ms * kMs, 0}); }
};
}  // namespace

TEST_CASE("AckStream: releases in order once the newest ack is a window past them", "[unit]") {
  Released r;
  for (Nanos t : {0, 10, 30, 20, 40}) r.add(t);  // 30 before 20: within the window
  CHECK(r.acks.empty());                         // all within 1 s of the newest
  r.add(1025);                                   // releases 0..20 (before 25)
  CHECK(r.acks == std::vector<Nanos>{0, 10, 20});
  r.stream.drain();
  CHECK(r.acks == std::vector<Nanos>{0, 10, 20, 30, 40, 1025});
  CHECK(r.gaps.front() == std::pair<Nanos, Nanos>{0, 10});
  CHECK(r.gaps.back() == std::pair<Nanos, Nanos>{40, 1025});
  CHECK(r.stream.count() == 6);
  CHECK(r.stream.late() == 0);
  REQUIRE(r.stream.last());
  CHECK(r.stream.last()->mono == 1025 * kMs);
}

TEST_CASE("AckStream: an ack older than one released is late, not a gap", "[unit]") {
  Released r;
  for (Nanos t : {0, 2000, 4000}) r.add(t);  // 0 and 2000 released
  r.add(1000);                               // older than 2000: late
  r.stream.drain();
  CHECK(r.acks == std::vector<Nanos>{0, 2000, 4000});
  CHECK(r.stream.late() == 1);
  CHECK(r.stream.count() == 4);
}

TEST_CASE("metrics: acks out of order within the window give the sorted figures, late ones are counted", "[unit]") {
  HistoryBuilder in_order, shuffled;
  for (Nanos t = 0; t < 1000; t += 10) in_order.write(1, t / 10 + 1, t, t + 2);
  in_order.write(1, 500, 4000, 4002);  // a 2.81 s outage
  for (Nanos t = 0; t < 1000; t += 20) {
    // Two clients whose acks reach the History swapped.
    shuffled.write(1, t / 10 + 2, t + 10, t + 12);
    shuffled.write(2, t / 10 + 1, t, t + 2);
  }
  shuffled.write(1, 500, 4000, 4002);
  const auto a = compute_metrics(in_order.ops, std::nullopt);
  const auto b = compute_metrics(shuffled.ops, std::nullopt);
  REQUIRE(a.downtime_s);
  REQUIRE(b.downtime_s);
  CHECK(*a.downtime_s == *b.downtime_s);
  CHECK(*b.downtime_s == Approx(3.010));
  CHECK(b.figures.count("late_acks") == 0);

  // An ack stamped 5 s before the newest one released: late, and said so.
  shuffled.write(3, 9999, 100, 105);
  const auto c = compute_metrics(shuffled.ops, std::nullopt);
  CHECK(c.figures.at("late_acks") == 1);
  CHECK(c.acked_total == b.acked_total + 1);
}
