// The single_vip checker: the delegate IP held by one node at a time
// (docs/checkers.md).
#include "haverify/check/single_vip.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

enum class VipState { held, free, unseen, down };

struct VipEvent {
  Nanos t = 0;
  std::string node;
  VipState state = VipState::unseen;
};

constexpr std::size_t kListWindows = 5;

class SingleVipPass final : public CheckerPass {
 public:
  explicit SingleVipPass(const SingleVipOptions& o) : o_(o) {}

  // Only changes are recorded by the probes (and few faults): kept whole.
  void observe(const Op& op) override {
    tr_.observe(op);
    last_ = std::max(last_, op.mono_ns);
    if (op::is(op, op::proc::probe, op::fn::vip)) {
      const VipState s = op.type != OpType::ok ? VipState::unseen
                         : op.value == "held"  ? VipState::held
                                               : VipState::free;
      events_.push_back({op.mono_ns, op.node, s});
      samples_ += op.type == OpType::ok;
    } else if (op::is(op, op::proc::nemesis, op::fn::inject) && std::string_view(op.value).starts_with("power_off ")) {
      // Down from the power-off's invoke (its links are cut first, then its
      // processes killed), once its ok confirms it.
      if (op.type == OpType::invoke)
        powering_off_[op.node] = op.mono_ns;
      else if (op.type == OpType::ok && powering_off_.count(op.node))
        events_.push_back({powering_off_[op.node], op.node, VipState::down});
    }
  }

  CheckerVerdict finish(const FinalState&) override;

 private:
  void forgive_hiccups();
  std::string at(Nanos t) const { return fmt::format("{} (t={:.3f} s)", tr_.wall(t), tr_.rel_s(t)); }

  const SingleVipOptions& o_;
  detail::TimeRef tr_;
  Nanos last_ = 0;
  std::size_t samples_ = 0;
  std::vector<VipEvent> events_;
  std::map<std::string, Nanos> powering_off_;  // node -> its power_off's invoke
};

// An unseen sample followed, within the grace, by the node's state from
// before it: the node kept that state (the probe's SSH failed once).
void SingleVipPass::forgive_hiccups() {
  std::map<std::string, VipState> before;
  std::map<std::string, std::size_t> unseen_at;  // node -> index of its open unseen event
  std::vector<bool> drop(events_.size(), false);
  for (std::size_t i = 0; i < events_.size(); ++i) {
    const VipEvent& e = events_[i];
    const auto open = unseen_at.find(e.node);
    if (e.state == VipState::unseen) {
      if (open == unseen_at.end()) unseen_at[e.node] = i;
      continue;
    }
    if (open != unseen_at.end()) {
      const VipEvent& u = events_[open->second];
      const auto b = before.find(e.node);
      if (b != before.end() && b->second == e.state && e.t - u.t <= o_.unseen_grace)
        drop[open->second] = drop[i] = true;
      unseen_at.erase(open);
    }
    before[e.node] = e.state;
  }
  std::vector<VipEvent> kept;
  for (std::size_t i = 0; i < events_.size(); ++i)
    if (!drop[i]) kept.push_back(events_[i]);
  events_ = std::move(kept);
}

CheckerVerdict SingleVipPass::finish(const FinalState&) {
  CheckerVerdict v;
  v.checker = "single_vip";
  forgive_hiccups();
  std::stable_sort(events_.begin(), events_.end(), [](const VipEvent& a, const VipEvent& b) { return a.t < b.t; });
  std::map<std::string, VipState> now;
  Nanos split = 0, unseen = 0, split_from = -1;
  std::size_t windows = 0, moves = 0;
  std::string holder;
  for (std::size_t i = 0; i < events_.size(); ++i) {
    const VipEvent& e = events_[i];
    if (e.state == VipState::down && !now.count(e.node)) continue;  // not a watchdog node
    VipState& s = now[e.node];
    if (!(s == VipState::down && e.state == VipState::unseen)) s = e.state;  // powered off: down until it answers
    if (i + 1 < events_.size() && events_[i + 1].t == e.t) continue;         // the same instant: judge once
    std::vector<std::string> held;
    std::size_t blind = 0;
    for (const auto& [n, s] : now) {
      if (s == VipState::held) held.push_back(n);
      blind += s == VipState::unseen;
    }
    const Nanos until = i + 1 < events_.size() ? events_[i + 1].t : last_;
    if (held.size() >= 2) {
      if (split_from < 0) {
        split_from = e.t;
        if (++windows <= kListWindows)
          v.reasons.push_back(fmt::format("the VIP was held by {} at once from {}", fmt::join(held, " and "), at(e.t)));
      }
      split += until - e.t;
    } else {
      split_from = -1;
      if (held.size() + blind >= 2) unseen += until - e.t;
    }
    if (held.size() == 1 && held.front() != holder) {
      moves += !holder.empty();
      holder = held.front();
    }
  }
  v.figures = {{"vip_split_s", ns_to_s(split)},
               {"vip_split_windows", detail::count(windows)},
               {"vip_unseen_s", ns_to_s(unseen)},
               {"vip_moves", detail::count(moves)}};
  if (windows > 0) {
    v.status = CheckStatus::fail;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("split VIP: {} window(s) with two holders, {:.3f} s in all", windows, ns_to_s(split)));
  } else if (samples_ == 0) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back("no VIP sample: the probes never asked a watchdog node");
  } else if (unseen > 0) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back(fmt::format(
        "for {:.3f} s a node that did not answer the VIP probe could have held the VIP with another", ns_to_s(unseen)));
  } else {
    v.status = CheckStatus::pass;
    v.reasons.push_back(fmt::format("one holder at a time ({} move(s) of the VIP)", moves));
  }
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> SingleVipChecker::start() const {
  return std::make_unique<SingleVipPass>(options_);
}

}  // namespace haverify
