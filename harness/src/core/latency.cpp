#include "haverify/core/latency.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace haverify {

namespace {

constexpr int kSubBits = 6;                       // 64 buckets per power of two
constexpr std::uint64_t kExact = 2u << kSubBits;  // 128: exact below

std::size_t bucket_of(std::uint64_t us) {
  if (us < kExact) return static_cast<std::size_t>(us);
  const int shift = std::bit_width(us) - (kSubBits + 1);  // us >> shift in [64, 128)
  const std::uint64_t sub = (us >> shift) - (kExact / 2);
  return static_cast<std::size_t>(kExact + static_cast<std::uint64_t>(shift - 1) * (kExact / 2) + sub);
}

// The middle of a bucket, in microseconds.
double value_of(std::size_t b) {
  if (b < kExact) return static_cast<double>(b);
  const std::uint64_t k = b - kExact;
  const int shift = static_cast<int>(k / (kExact / 2)) + 1;
  const std::uint64_t lo = ((kExact / 2) + k % (kExact / 2)) << shift;
  return static_cast<double>(lo) + static_cast<double>((std::uint64_t{1} << shift) - 1) / 2.0;
}

}  // namespace

void LatencyHistogram::add(Nanos latency) {
  const std::uint64_t us = latency > 0 ? static_cast<std::uint64_t>(latency / 1000) : 0;
  const std::size_t b = bucket_of(us);
  if (b >= buckets_.size()) buckets_.resize(b + 1, 0);
  ++buckets_[b];
  ++count_;
  max_ = std::max(max_, latency);
}

std::optional<double> LatencyHistogram::quantile_ms(double q) const {
  if (count_ == 0) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= rank) return std::min(value_of(b), static_cast<double>(max_) / 1000.0) / 1000.0;
  }
  return static_cast<double>(max_) / 1e6;
}

std::optional<double> LatencyHistogram::max_ms() const {
  if (count_ == 0) return std::nullopt;
  return static_cast<double>(max_) / 1e6;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.buckets_.size() > buckets_.size()) buckets_.resize(other.buckets_.size(), 0);
  for (std::size_t i = 0; i < other.buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  max_ = 0;
}

}  // namespace haverify
