#pragma once
// A latency histogram with bounded memory: microsecond values below 128 are
// exact; above, each power of two is split into 64 buckets, so a quantile is
// within 1/128 (0.8 %) of the true value. About 2,400 buckets cover up to
// 2^40 us (12 days). Not thread-safe.
#include <cstdint>
#include <optional>
#include <vector>

#include "haverify/core/clock.hpp"

namespace haverify {

class LatencyHistogram {
 public:
  void add(Nanos latency);
  std::uint64_t count() const { return count_; }
  // Nearest-rank quantile (q in (0, 1]) in milliseconds; nullopt when empty.
  std::optional<double> quantile_ms(double q) const;
  std::optional<double> max_ms() const;
  void reset();
  // Adds every value of `other`, as if each had been add()ed here.
  void merge(const LatencyHistogram& other);

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  Nanos max_ = 0;
};

}  // namespace haverify
