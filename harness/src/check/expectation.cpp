// The expectation checker (check/expectation.hpp).
#include "haverify/check/expectation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace haverify {

namespace {

// What the run showed, as the expectation checker reads it.
struct Observed {
  std::string before;  // the primary before the fault (several: joined with '+')
  std::string after;   // the final state's primary ("" unknown)
  bool same_primary = false;
  std::optional<double> resume_s;  // the fault's outage (failover_s); nullopt: writes never resumed
  std::string text;                // "node1 -> node2, writes resumed after 4.210 s"
};

Observed observe(const RunMetrics& m, const FinalState& final) {
  Observed o;
  o.before = fmt::format("{}", fmt::join(m.primaries_before, "+"));
  o.after = final.primary;
  o.same_primary = !o.after.empty() && m.primaries_before.count(o.after) && m.promoted.empty();
  o.resume_s = m.failover_s;
  std::string roles;
  if (o.after.empty())
    roles = fmt::format("no primary after the run (before: {})", o.before);
  else if (o.same_primary)
    roles = fmt::format("the primary stayed {}", o.after);
  else if (m.primaries_before.count(o.after))
    roles = fmt::format("{} answered as primary meanwhile, {} is primary again", m.promoted, o.after);
  else
    roles = fmt::format("{} -> {}", o.before, o.after);
  const std::string writes = !m.t_inject_sent ? std::string("no fault injected")
                             : o.resume_s     ? fmt::format("writes resumed {:.3f} s after the fault", *o.resume_s)
                                              : std::string("writes never resumed after the fault");
  o.text = roles + ", " + writes;
  return o;
}

// The evidence every outcome needs; a reason when it is missing.
std::optional<std::string> missing_evidence(const Expectation& e, const RunMetrics& m, const FinalState& final) {
  // no-failover needs no fault: the primary stays and the writes flow (a planned-operations run).
  if (!m.t_inject_sent && e.outcome != "no-failover")
    return fmt::format("no fault was injected: nothing shows '{}'", e.outcome);
  if (m.acked_total == 0) return "no acknowledged write: whether writes resumed is not known";
  if (m.primaries_before.empty())
    return m.t_inject_sent ? "no node answered as primary before the fault" : "no node answered as primary";
  if (final.primary.empty() && e.outcome != "outage") return "no primary after the run (the final state)";
  return std::nullopt;
}

bool resumed_within(const Observed& o, std::chrono::milliseconds bound) {
  return o.resume_s && *o.resume_s <= ms_to_s(bound);
}

// Whether the outcome held, and what the run showed against it.
bool outcome_held(const Expectation& e, const RunMetrics& m, const Observed& o, std::string* detail) {
  if (e.outcome == "failover") {
    *detail = fmt::format("resume bound {:.3f} s", ms_to_s(e.resume_within));
    return !o.after.empty() && !m.primaries_before.count(o.after) && resumed_within(o, e.resume_within);
  }
  if (e.outcome == "no-failover") {
    *detail = m.downtime_s
                  ? fmt::format("longest write gap {:.3f} s, bound {:.3f} s", *m.downtime_s, ms_to_s(e.max_write_gap))
                  : std::string("no write gap measured");
    return o.same_primary && m.downtime_s && *m.downtime_s <= ms_to_s(e.max_write_gap);
  }
  if (e.outcome == "local-restart") {
    *detail = fmt::format("resume bound {:.3f} s", ms_to_s(e.resume_within));
    return o.same_primary && resumed_within(o, e.resume_within);
  }
  if (e.outcome == "failover-or-restart") {
    *detail = fmt::format("resume bound {:.3f} s", ms_to_s(e.resume_within));
    return !o.after.empty() && resumed_within(o, e.resume_within);
  }
  // outage: writes stopped at least min_outage (or never came back).
  *detail = o.resume_s ? fmt::format("writes stopped for {:.3f} s and came back (at least {:.3f} s expected)",
                                     *o.resume_s, ms_to_s(e.min_outage))
                       : std::string("writes stopped and never came back");
  return !o.resume_s || *o.resume_s >= ms_to_s(e.min_outage);
}

}  // namespace

CheckerVerdict judge_expectation(const std::optional<Expectation>& expect, const RunMetrics& m,
                                 const FinalState& final) {
  CheckerVerdict v;
  v.checker = "expectation";
  if (m.failover_s) v.figures["resume_s"] = *m.failover_s;
  const bool outage_expected = expect && expect->outcome == "outage";
  std::vector<std::string> stalled;
  if (!outage_expected) stalled = m.writes_not_resumed;
  if (!expect) {
    v.status = stalled.empty() ? CheckStatus::pass : CheckStatus::fail;
    v.reasons = stalled.empty() ? std::vector<std::string>{"writes resumed at every await_writes step"} : stalled;
    return v;
  }
  if (auto why = missing_evidence(*expect, m, final)) {
    v.status = stalled.empty() ? CheckStatus::unknown : CheckStatus::fail;
    v.reasons = stalled;
    v.reasons.push_back(fmt::format("expected {}: {}", expect->outcome, *why));
    return v;
  }
  const Observed o = observe(m, final);
  std::string detail;
  const bool held = outcome_held(*expect, m, o, &detail);
  v.figures["expected_met"] = held ? 1 : 0;
  v.status = held && stalled.empty() ? CheckStatus::pass : CheckStatus::fail;
  v.reasons = stalled;
  v.reasons.insert(v.reasons.begin(),
                   held ? fmt::format("{} as expected: {} ({})", expect->outcome, o.text, detail)
                        : fmt::format("expected {}, observed: {} ({})", expect->outcome, o.text, detail));
  return v;
}

}  // namespace haverify
