#pragma once
// Checkers: a run's History plus the cluster's final state -> a verdict
// pass | fail | unknown, with figures (numbers for results.csv) and reasons.
// `unknown` means the checker could not decide (missing data, or it threw);
// it is never silently a pass. See docs/checkers.md for the rules.
//
// History conventions the checkers read:
//   client-N  write  value = ledger id      invoke -> ok | fail | info
//   bank-N    transfer value = "from,to,amount", read value = total seen
//   probe     state  node = node name; ok: value = {"in_recovery":..,
//             "timeline":..,"lsn":"..","writable":..}; fail: did not answer
//   nemesis   inject | verify | heal;  runner  recover | step | ...
//   driver    detect (t_detect); any other f: a planned operation of a
//             cluster step (switchover, stop_node, ...) invoke -> ok | fail
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "haverify/core/clock.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

enum class CheckStatus { pass, fail, unknown };

const char* to_string(CheckStatus s);

struct CheckerVerdict {
  std::string checker;
  CheckStatus status = CheckStatus::unknown;
  std::map<std::string, double> figures;  // absent = could not be computed
  std::vector<std::string> reasons;       // why it failed / was unknown, and notable findings
};

// Read from each node after the run (the runner fills it).
struct NodeFinalState {
  std::string node;
  bool reachable = false;
  bool in_recovery = false;
  int timeline = 0;
  bool streaming_from_primary = false;                 // per the primary's pg_stat_replication
  std::optional<std::set<std::int64_t>> ledger_ids;    // ids of this run present on the node
  std::map<std::string, std::string> table_checksums;  // table -> checksum (e.g. md5 of ordered rows)
};

struct FinalState {
  std::string primary;  // the node the cluster manager names primary after the run ("" = unknown)
  std::vector<NodeFinalState> nodes;
  std::optional<std::int64_t> bank_total;  // read from the primary after the run
  std::int64_t bank_expected_total = 0;
  // When the runner's convergence wait first saw every standby converged;
  // nullopt = never within its deadline.
  std::optional<Nanos> converged_mono;
  // false for shared disk: the other nodes are passive (no PostgreSQL); one
  // of them answering as a primary is a second primary on the same data.
  bool replicated = true;
  // Standbys the cluster manager would not make primary (node -> why, from
  // ClusterDriver::takeover_blockers): such a node has not converged.
  std::map<std::string, std::string> takeover_blockers;

  const NodeFinalState* find(const std::string& node) const;
};

// One pass of a checker over a history: observe() every op in history order,
// then finish() once with the final state. A pass keeps only what its rule
// needs (counters, compact id sets, probe samples), never the ops themselves,
// so a run streams its history through the passes (docs/architecture.md).
class CheckerPass {
 public:
  virtual ~CheckerPass() = default;
  virtual void observe(const Op& op) = 0;
  virtual CheckerVerdict finish(const FinalState& final) = 0;
};

// A checker overrides start() (streaming) or check() (whole history); the
// default of each is written in terms of the other, so override one of them.
class Checker {
 public:
  virtual ~Checker() = default;
  virtual std::string name() const = 0;
  // Default: a pass that keeps every op and calls check() at the end.
  virtual std::unique_ptr<CheckerPass> start() const;
  // Default: start(), observe every op, finish().
  virtual CheckerVerdict check(const std::vector<Op>& history, const FinalState& final) const;
};

// Runs one checker. Any exception becomes status unknown with the exception
// text as the reason; an empty `checker` field is filled with c.name().
// Never throws (short of std::bad_alloc while building the fallback verdict).
CheckerVerdict run_checker(const Checker& c, const std::vector<Op>& history, const FinalState& final);
std::vector<CheckerVerdict> run_checkers(const std::vector<const Checker*>& checkers, const std::vector<Op>& history,
                                         const FinalState& final);

// The streaming form of run_checkers: a HistorySink that feeds every op to a
// pass of each checker as it is appended, and finish() gives their verdicts.
// A pass that throws (in start, observe or finish) is dropped and its
// checker's verdict is unknown with the exception as the reason; the others
// go on. The checkers must outlive the feed.
class CheckerFeed final : public HistorySink {
 public:
  explicit CheckerFeed(const std::vector<const Checker*>& checkers);
  ~CheckerFeed() override;
  CheckerFeed(const CheckerFeed&) = delete;
  CheckerFeed& operator=(const CheckerFeed&) = delete;
  void on_op(const Op& op) override;
  // Call once, after the last op (detach the feed from the History first).
  std::vector<CheckerVerdict> finish(const FinalState& final);

 private:
  struct Slot;
  std::vector<Slot> slots_;
};

// fail if any verdict fails, else unknown if any is unknown, else pass (also
// for an empty list).
CheckStatus compose(const std::vector<CheckerVerdict>& verdicts);

// Every figure of every verdict (figure names are distinct across checkers).
std::map<std::string, double> merged_figures(const std::vector<CheckerVerdict>& verdicts);

// One line for reports: "durability fail: lost 3 acked ids ...; ...".
std::string format_verdict(const CheckerVerdict& v);

// ---------------------------------------------------------------------------

// Acknowledged writes of the ledger clients survive on the final primary.
// Every id written (client-N write) is classified against the primary's ids:
//   acked_present / acked_lost (ok, missing), unknown_present / unknown_absent
//   (info or never completed), failed_present / failed_absent.
// Figures: acked, unknown, failed, acked_present, acked_lost, unknown_present,
//   unknown_absent, failed_present, failed_absent, lost_acked (= acked_lost),
//   lost_unknown (= unknown_absent), failed_but_present (a failed write found
//   on any reachable node), unexpected_present (ids on the primary that no
//   client ever invoked), lost_acked_on_<node> for every node whose ids were read.
// fail: lost_acked > 0, failed_but_present > 0 or unexpected_present > 0;
// unknown: the primary's ids are not available; else pass. Acked ids missing
// on another node are reported in the reasons only (the Convergence checker
// fails on them).
class DurabilityChecker final : public Checker {
 public:
  std::string name() const override { return "durability"; }
  std::unique_ptr<CheckerPass> start() const override;
};

// A time window on the monotonic clock, [from, to].
struct TimeWindow {
  Nanos from = 0;
  Nanos to = 0;
};

// Per node, the maximal windows during which the probes say it may have been
// writable (probe state samples, see SingleWriterChecker for the rule).
std::map<std::string, std::vector<TimeWindow>> writable_windows(const std::vector<Op>& history,
                                                                Nanos probe_interval_ns);

// Never two writable nodes at the same time. From the probe `state` samples,
// per node: a run of consecutive samples with writable=true is one writable
// window, from the node's sample before the run to its sample after the run
// (ok or fail), both extensions capped at `probe_interval` so a gap in the
// samples (a node that stops answering, a slow or stalled probe) does not
// stretch the window: a node that stops answering is not writable after its
// last writable sample + one interval. Overlapping windows of two or more
// nodes are split brain. Resolution: a handover in which the new primary's
// first writable sample comes less than about two intervals after the old
// primary's last one shows as an overlap of at most that length.
// Figures: split_brain_windows (maximal overlap windows), split_brain_s (their
// total length), probe_samples, probe_nodes, max_probe_gap_s.
// fail: any overlap; unknown: no probe samples; else pass.
class SingleWriterChecker final : public Checker {
 public:
  explicit SingleWriterChecker(Nanos probe_interval_ns = 50'000'000) : probe_interval_(probe_interval_ns) {}
  std::string name() const override { return "single_writer"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  Nanos probe_interval_;
};

// After the run every node other than the primary is reachable, in recovery,
// on the primary's timeline, streaming from the primary, holds the same
// ledger ids (when read) and the same table checksums as the primary.
// Figures: converged_s (converged_mono - the last `nemesis heal ok`,
// `runner recover ok` or planned operation ok (`driver`, not detect),
// whichever is later; without any, the last `nemesis inject`),
// diverged_nodes, standbys.
// fail: any node differs, the primary is in recovery, or the convergence
// wait never saw convergence; unknown: the primary is unknown or
// unreachable, or there are no checksums to compare; else pass.
class ConvergenceChecker final : public Checker {
 public:
  std::string name() const override { return "convergence"; }
  std::unique_ptr<CheckerPass> start() const override;
};

// The bank's total is invariant: every ok `read` and the final total equal
// bank_expected_total. Figures: bank_reads, bank_bad_reads, bank_transfers_ok,
// bank_transfers_unknown, bank_transfers_failed, bank_ok (1/0; absent when
// unknown). fail: a bad read or a bad final total; unknown: no final total
// (and no bad read); else pass.
class BankChecker final : public Checker {
 public:
  std::string name() const override { return "bank"; }
  std::unique_ptr<CheckerPass> start() const override;
};

// Memory growth over a long run, from the process sampler's ops (process
// "sampler", f "proc", node = node name, value = {"pid":..,"process":"..",
// "rss_kb":..,"anon_kb":..,"cpu_pct":..}). One series per (node, pid,
// process name): a process that restarts is a new series. Per series, the
// ordinary least-squares slope of memory (MB) against time (hours) and its
// one-sided 95 % lower confidence bound, slope - t(0.95, n-2) * SE(slope).
// Samples in the first `warmup` after a series' first sample are left out.
// Figures: memory_series (series with enough samples), memory_samples,
//   max_rss_slope_mb_h and max_rss_slope_lower_mb_h (of the series with the
//   highest lower bound; named with its node, pid and process in the reasons).
// fail: a series' lower bound > max_mb_per_hour; unknown: no series has
// min_samples samples (after the warmup); else pass.
struct MemoryGrowthOptions {
  double max_mb_per_hour = 10;
  std::string memory = "anon";  // anon (RssAnon) | rss (VmRSS)
  Nanos warmup_ns = 0;
  std::size_t min_samples = 10;
};

class MemoryGrowthChecker final : public Checker {
 public:
  explicit MemoryGrowthChecker(MemoryGrowthOptions options = {}) : options_(std::move(options)) {}
  std::string name() const override { return "memory_growth"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  MemoryGrowthOptions options_;
};

// One-sided 95 % quantile of Student's t distribution with `df` degrees of
// freedom (table for df <= 30, 40, 60, 120, then interpolated in 1/df
// towards 1.645).
double t95_one_sided(std::size_t df);

}  // namespace haverify
