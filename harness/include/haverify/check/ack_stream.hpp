#pragma once
// The acknowledged writes as a stream of gaps, in time order, in bounded
// memory: the figures built on ack gaps (downtime_s, failover_s, the stalls
// around planned operations) are folded in as the acks arrive, so a long run
// keeps no per-write state. The History stamps ops under its lock, so acks
// arrive in order; a reorder window absorbs ops stamped by their producer.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "haverify/core/clock.hpp"

namespace haverify {

struct Instant {
  Nanos mono = 0;
  Nanos wall = 0;
};

// Releases acks in time order once the newest ack is `reorder` past them.
// An ack older than one already released is counted as late and left out
// of the gaps (the gap it falls into is then reported whole: longer, never
// shorter, than the truth).
class AckStream {
 public:
  // `prev` is the ack released before `ack` (nullopt for the first).
  using Visitor = std::function<void(const std::optional<Instant>& prev, const Instant& ack)>;
  explicit AckStream(Visitor visit, Nanos reorder = 2'000'000'000);
  void add(const Instant& ack);
  void drain();  // release everything held (end of the history)
  const std::optional<Instant>& last() const { return last_; }
  std::int64_t count() const { return count_; }
  std::int64_t late() const { return late_; }

 private:
  void release_before(Nanos t);
  Visitor visit_;
  Nanos reorder_;
  std::vector<Instant> held_;  // sorted by mono
  std::optional<Instant> last_;
  std::int64_t count_ = 0, late_ = 0;
};

// The longest stall of the acknowledged writes around an operation [from,
// to]: the longest gap between two consecutive acks that overlaps it (a gap
// (p, c) with c > from and p < to, counted whole); if the acks stop before
// `to` while the clients still write (their last operation, `writes_end`, at
// or after `to`), from the last ack to `to`. The time before the first ack
// is no stall (nothing was written yet). Fed gap by gap; `to` may be set
// while the gaps stream (an operation still running has none yet).
class StallWatch {
 public:
  explicit StallWatch(Nanos from) : from_(from) {}
  void close(Nanos to) { to_ = to; }
  const std::optional<Nanos>& end() const { return to_; }  // nullopt while the operation runs
  void on_gap(Nanos prev, Nanos cur);
  // nullopt when no ack came before `to` (or the operation never closed).
  std::optional<Nanos> finish(const std::optional<Instant>& last_ack, Nanos writes_end) const;
  // No later gap can count: the operation closed before `prev`.
  bool done_before(Nanos prev) const { return to_ && prev >= *to_; }

 private:
  Nanos from_;
  std::optional<Nanos> to_;
  std::optional<Nanos> best_;
};

// The same over a sorted list of ack times.
std::optional<Nanos> longest_stall(const std::vector<Nanos>& acks, Nanos from, Nanos to, Nanos writes_end);

}  // namespace haverify
