#include "haverify/check/ack_stream.hpp"

#include <algorithm>

namespace haverify {

AckStream::AckStream(Visitor visit, Nanos reorder) : visit_(std::move(visit)), reorder_(reorder) {}

void AckStream::add(const Instant& ack) {
  ++count_;
  if (last_ && ack.mono < last_->mono) {
    ++late_;
    return;
  }
  const auto by_mono = [](const Instant& a, const Instant& b) { return a.mono < b.mono; };
  if (held_.empty() || !by_mono(ack, held_.back())) {
    held_.push_back(ack);
  } else {
    held_.insert(std::upper_bound(held_.begin(), held_.end(), ack, by_mono), ack);
  }
  release_before(held_.back().mono - reorder_);
}

void AckStream::release_before(Nanos t) {
  std::size_t n = 0;
  for (; n < held_.size() && held_[n].mono < t; ++n) {
    visit_(last_, held_[n]);
    last_ = held_[n];
  }
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(n));
}

void AckStream::drain() {
  if (!held_.empty()) release_before(held_.back().mono + 1);
}

void StallWatch::on_gap(Nanos prev, Nanos cur) {
  if (cur <= from_ || done_before(prev)) return;
  const Nanos gap = cur - prev;
  if (!best_ || gap > *best_) best_ = gap;
}

std::optional<Nanos> StallWatch::finish(const std::optional<Instant>& last_ack, Nanos writes_end) const {
  if (!to_) return std::nullopt;
  std::optional<Nanos> best = best_;
  // Writes that never resumed before the operation ended.
  if (last_ack && last_ack->mono < *to_ && writes_end >= *to_) {
    const Nanos tail = *to_ - last_ack->mono;
    if (!best || tail > *best) best = tail;
  }
  return best;
}

std::optional<Nanos> longest_stall(const std::vector<Nanos>& acks, Nanos from, Nanos to, Nanos writes_end) {
  StallWatch w(from);
  w.close(to);
  for (std::size_t i = 1; i < acks.size(); ++i) w.on_gap(acks[i - 1], acks[i]);
  return w.finish(acks.empty() ? std::nullopt : std::optional<Instant>(Instant{acks.back(), 0}), writes_end);
}

}  // namespace haverify
