#pragma once
// A compact set of int64 ids: sorted, merged ranges [lo, hi] plus a small
// unsorted tail of recent inserts, merged in when it grows. Ledger ids are
// handed out in sequence, so the acknowledged ids of a run are a few long
// ranges (the gaps are the failed and unknown writes): memory is O(ranges),
// 16 bytes a range, at worst 16 bytes an id. Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace haverify {

class IdSet {
 public:
  void insert(std::int64_t id);
  bool contains(std::int64_t id) const;
  std::size_t size() const;  // distinct ids
  bool empty() const { return size() == 0; }
  // Every id in ascending order; f returns false to stop.
  template <typename F>
  void for_each(F&& f) const {
    compact();
    for (const auto& [lo, hi] : ranges_)
      for (std::int64_t id = lo;; ++id) {
        if (!f(id)) return;
        if (id == hi) break;
      }
  }
  std::size_t ranges() const;        // after merging the tail
  std::size_t memory_bytes() const;  // capacity of the two vectors

 private:
  void compact() const;
  mutable std::vector<std::pair<std::int64_t, std::int64_t>> ranges_;
  mutable std::vector<std::int64_t> tail_;
  mutable std::size_t count_ = 0;  // ids in ranges_
};

}  // namespace haverify
