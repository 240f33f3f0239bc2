// Long runs, core: compact id sets, latency histograms and the History
// without retention handing every op to its sinks.
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "haverify/core/history.hpp"
#include "haverify/core/id_set.hpp"
#include "haverify/core/latency.hpp"

using namespace haverify;

namespace {
constexpr Nanos kSec = 1'000'000'000;
}  // namespace

TEST_CASE("IdSet: ranges merge whatever the insertion order", "[unit]") {
  IdSet s;
  CHECK(s.empty());
  for (std::int64_t id = 1000; id < 2000; ++id) s.insert(id);
  CHECK(s.size() == 1000);
  CHECK(s.ranges() == 1);
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> shuffled;
  for (std::int64_t id = 5000; id < 25000; ++id)
    if (id % 97 != 0) shuffled.push_back(id);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (auto id : shuffled) s.insert(id);
  s.insert(1500);  // a duplicate
  CHECK(s.size() == 1000 + shuffled.size());
  CHECK(s.contains(1000));
  CHECK(s.contains(1999));
  CHECK_FALSE(s.contains(2000));
  CHECK_FALSE(s.contains(5044));  // 97 * 52: a gap
  CHECK(s.contains(5045));
  CHECK(s.ranges() == 1 + 207);  // 1000..1999, then 5000..24999 split at every multiple of 97
  std::vector<std::int64_t> first;
  s.for_each([&](std::int64_t id) {
    first.push_back(id);
    return first.size() < 3;
  });
  CHECK(first == std::vector<std::int64_t>{1000, 1001, 1002});
  CHECK(s.memory_bytes() <= 8192 * sizeof(std::int64_t) + 1024 * 16);  // the tail buffer and ~200 ranges
}

TEST_CASE("LatencyHistogram: quantiles within 1/128", "[unit]") {
  LatencyHistogram h;
  CHECK_FALSE(h.quantile_ms(0.99));
  for (int i = 1; i <= 10000; ++i) h.add(static_cast<Nanos>(i) * 1000);  // 1 us .. 10 ms
  CHECK(h.count() == 10000);
  CHECK(*h.quantile_ms(0.5) == Approx(5.0).epsilon(1.0 / 128));
  CHECK(*h.quantile_ms(0.99) == Approx(9.9).epsilon(1.0 / 128));
  CHECK(*h.max_ms() == Approx(10.0));
  h.reset();
  h.add(3 * kSec);
  CHECK(*h.quantile_ms(0.99) == Approx(3000).epsilon(1.0 / 128));
}

// ---------------------------------------------------------------------------

TEST_CASE("History without retention hands every op to its sinks in order", "[unit]") {
  struct Collect : HistorySink {
    std::vector<std::int64_t> idx;
    Nanos last_mono = 0;
    bool monotone = true;
    void on_op(const Op& op) override {
      idx.push_back(op.index);
      monotone = monotone && op.mono_ns >= last_mono;
      last_mono = op.mono_ns;
    }
  } sink;
  History h(false);
  h.add_sink(&sink);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 500; ++i) h.record("client-" + std::to_string(t), OpType::invoke, "write", "1");
    });
  for (auto& t : ts) t.join();
  h.remove_sink(&sink);
  h.record("runner", OpType::ok, "step", "after");
  CHECK(h.size() == 2001);
  CHECK(h.snapshot().empty());
  REQUIRE(sink.idx.size() == 2000);
  for (std::size_t i = 0; i < sink.idx.size(); ++i) CHECK(sink.idx[i] == static_cast<std::int64_t>(i));
  CHECK(sink.monotone);
}
