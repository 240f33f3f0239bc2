#include "haverify/core/id_set.hpp"

#include <algorithm>

namespace haverify {

namespace {
constexpr std::size_t kTailMax = 8192;
}

void IdSet::insert(std::int64_t id) {
  // The common case: one past the last range.
  if (tail_.empty() && !ranges_.empty() && ranges_.back().second < INT64_MAX && id == ranges_.back().second + 1) {
    ++ranges_.back().second;
    ++count_;
    return;
  }
  tail_.push_back(id);
  if (tail_.size() >= kTailMax) compact();
}

void IdSet::compact() const {
  if (tail_.empty()) return;
  std::sort(tail_.begin(), tail_.end());
  tail_.erase(std::unique(tail_.begin(), tail_.end()), tail_.end());
  std::vector<std::pair<std::int64_t, std::int64_t>> merged;
  merged.reserve(ranges_.size() + 16);
  auto push = [&merged](std::int64_t lo, std::int64_t hi) {
    if (!merged.empty() && (merged.back().second >= lo || merged.back().second + 1 == lo)) {
      merged.back().second = std::max(merged.back().second, hi);
    } else {
      merged.emplace_back(lo, hi);
    }
  };
  std::size_t r = 0, t = 0;
  while (r < ranges_.size() || t < tail_.size()) {
    if (t == tail_.size() || (r < ranges_.size() && ranges_[r].first <= tail_[t])) {
      push(ranges_[r].first, ranges_[r].second);
      ++r;
    } else {
      push(tail_[t], tail_[t]);
      ++t;
    }
  }
  ranges_.swap(merged);
  if (ranges_.capacity() > 2 * ranges_.size() + 64) ranges_.shrink_to_fit();  // out-of-order ids have merged
  tail_.clear();
  count_ = 0;
  for (const auto& [lo, hi] : ranges_) count_ += static_cast<std::size_t>(hi - lo) + 1;
}

bool IdSet::contains(std::int64_t id) const {
  compact();
  auto it =
      std::upper_bound(ranges_.begin(), ranges_.end(), id,
                       [](std::int64_t v, const std::pair<std::int64_t, std::int64_t>& r) { return v < r.first; });
  if (it == ranges_.begin()) return false;
  --it;
  return id >= it->first && id <= it->second;
}

std::size_t IdSet::size() const {
  compact();
  return count_;
}

std::size_t IdSet::ranges() const {
  compact();
  return ranges_.size();
}

std::size_t IdSet::memory_bytes() const {
  return ranges_.capacity() * sizeof(ranges_[0]) + tail_.capacity() * sizeof(std::int64_t);
}

}  // namespace haverify
