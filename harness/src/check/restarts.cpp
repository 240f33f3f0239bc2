#include "restarts.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/op.hpp"

namespace haverify::detail {

void Lineages::observe_cause(const Op& op) {
  if (op.type != OpType::invoke && op.type != OpType::info) return;
  const bool cause = op::is_scenario_action(op) || op::is(op, op::proc::nemesis, op::fn::heal) ||
                     op::is(op, op::proc::runner, op::fn::recover);
  if (!cause) return;
  if (causes_.empty() || op.mono_ns >= causes_.back())
    causes_.push_back(op.mono_ns);
  else
    causes_.insert(std::upper_bound(causes_.begin(), causes_.end(), op.mono_ns), op.mono_ns);
}

void Lineages::sample(const std::string& node, std::size_t round, std::int64_t pid, const std::string& process, Nanos t,
                      double mb) {
  Lineage& l = lines_[{node, process}];
  if (l.multi) return;
  if (round != l.round) {
    l.round = round;
    l.in_round.clear();
  }
  l.in_round.insert(pid);
  if (l.in_round.size() > 1) {  // not one process: its pids are workers that come and go
    l.multi = true;
    l.segments.clear();
    l.segments.shrink_to_fit();
    return;
  }
  if (l.segments.empty() || l.segments.back().pid != pid) l.segments.push_back(Segment{pid, t, t, mb, mb, 0});
  Segment& s = l.segments.back();
  s.last_t = t;
  s.last_mb = mb;
  ++s.n;
}

bool Lineages::explained(Nanos t) const {
  const auto it = std::upper_bound(causes_.begin(), causes_.end(), t);
  return it != causes_.begin() && t - *std::prev(it) <= o_.restart_grace_ns;
}

bool Lineages::finish(CheckerVerdict& v, const TimeRef& tr) const {
  std::size_t unexplained = 0, explained_n = 0;
  std::vector<std::string> restarts, growing;
  for (const auto& [key, l] : lines_) {
    if (l.multi || l.segments.size() < 2) continue;
    std::vector<std::string> at;
    for (std::size_t i = 1; i < l.segments.size(); ++i) {
      const Segment& s = l.segments[i];
      if (explained(s.first_t)) {
        ++explained_n;
        continue;
      }
      ++unexplained;
      at.push_back(fmt::format("pid {} -> {} by t={:.3f} s", l.segments[i - 1].pid, s.pid, tr.rel_s(s.first_t)));
    }
    if (!at.empty())
      restarts.push_back(
          fmt::format("{} {} restarted {} times with no fault, recover or planned operation in the {:.0f} s "
                      "before ({})",
                      key.first, key.second, at.size(), ns_to_s(o_.restart_grace_ns), fmt::join(at, ", ")));
    double grown = 0, hours = 0;
    std::size_t n = 0;
    for (const auto& s : l.segments) {
      grown += s.last_mb - s.first_mb;
      hours += ns_to_s(s.last_t - s.first_t) / 3600.0;
      n += s.n;
    }
    if (n >= o_.min_samples && hours > 0 && grown / hours > o_.max_mb_per_hour)
      growing.push_back(fmt::format(
          "{} {} grows {:.1f} MB/h summed across its {} pids (+{:.1f} MB in {:.0f} s of "
          "samples; > {} MB/h)",
          key.first, key.second, grown / hours, l.segments.size(), grown, hours * 3600, o_.max_mb_per_hour));
  }
  v.figures["restarts"] = count(unexplained);
  v.figures["restarts_explained"] = count(explained_n);
  const bool too_many = unexplained > static_cast<std::size_t>(std::max(0, o_.max_restarts));
  if (too_many)
    restarts.insert(restarts.begin(), fmt::format("{} unexplained restarts (at most {} allowed: sampler.max_restarts)",
                                                  unexplained, o_.max_restarts));
  v.reasons.insert(v.reasons.end(), restarts.begin(), restarts.end());
  v.reasons.insert(v.reasons.end(), growing.begin(), growing.end());
  return too_many || !growing.empty();
}

}  // namespace haverify::detail
