#pragma once
// Measurements computed from a run's History (see docs/metrics.md) and the
// checks that bound them.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "haverify/check/ack_stream.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// One planned operation of a `cluster:` step ({process: driver, f: <op>}
// invoke -> ok | fail, or one info op when skipped).
struct OperationRecord {
  std::string op;
  std::string node;                  // the node it acted on ("" for stop/start of the whole cluster)
  std::string outcome;               // ok | fail | skipped | unfinished
  std::string detail;                // the ok value ("node2; 8123 ms"), the error, or why it was skipped
  Instant start;                     // invoke (skipped: the info op)
  std::optional<double> duration_s;  // invoke -> ok/fail
  std::optional<double> stall_s;     // the longest stall of the writes around [invoke, ok/fail] (StallWatch)
};

struct RunMetrics {
  // The fault the timings are measured from (MetricsOptions), and why it:
  // "power_off node1 (the first fault that changed the primary)".
  std::string measured_from;
  std::optional<Instant> t_inject_sent;      // that fault's inject: command sent
  std::optional<Instant> t_inject_returned;  // that fault's inject: command returned
  std::optional<Instant> t_detect;           // the cluster manager noticed (first driver "detect" op after the inject)
  std::optional<Instant> t_promote;          // a new node first answered pg_is_in_recovery()=false
  std::optional<Instant> t_first_write;      // the ack that ends the fault's outage (see docs/metrics.md)
  std::optional<double> detect_s;            // t_detect - t_inject_sent
  std::optional<double> promote_s;           // t_promote - t_inject_sent
  std::optional<double> failover_s;          // t_first_write - t_inject_sent
  std::optional<double> downtime_s;          // longest gap between consecutive acks
  std::optional<Instant> downtime_from;      // the ack that opened the longest gap

  // Recovery phases of the node primary at the end, from its PostgreSQL log
  // (cluster/recovery_log.hpp); set by the runner, not by the pass.
  std::optional<double> redo_s;        // the WAL replay of its crash recovery or promotion
  std::optional<double> checkpoint_s;  // the first checkpoint after that redo
  std::int64_t acked_total = 0;
  std::int64_t unknown_commits = 0;  // writes whose outcome is unknown (info)
  std::int64_t failed_writes = 0;    // writes that definitely failed
  std::int64_t invoked_total = 0;
  // Latency (invoke -> ok) of the acknowledged writes, from a histogram
  // (within 0.8 %); nullopt without acknowledged writes.
  std::optional<double> p50_latency_ms, p99_latency_ms, max_latency_ms;
  std::optional<std::int64_t> lost_acked;  // acked ids missing on the final primary
  // Planned operations (cluster steps), in order; op_s is the longest
  // duration, stall_s the longest stall of the writes around any of them.
  std::vector<OperationRecord> operations;
  std::optional<double> op_s, stall_s;
  // The nodes that answered as a primary just before that fault (role
  // probes), and the first other node that answered as a primary after it
  // and before the next fault (t_promote's node; "" if none).
  std::set<std::string> primaries_before;
  std::string promoted;
  // The await_writes steps that timed out: "writes never resumed within T".
  std::vector<std::string> writes_not_resumed;
  std::vector<std::int64_t> lost_ids;  // first few, for the reason text
  // Figures of the checkers (lost_unknown, failed_but_present,
  // split_brain_windows, converged_s, bank_ok, ...), boundable by checks.
  std::map<std::string, double> figures;

  std::optional<double> value(const std::string& metric) const;
};

// The metrics as one streaming pass over the History (a HistorySink): it
// keeps the acknowledged ids (compactly, IdSet), a latency histogram and a
// few instants, and folds the ack gaps (downtime_s, t_first_write, stalls)
// in as they stream (AckStream); never the ops nor a per-write record.
// Which fault the timings (t_inject_sent, failover_s, detect_s, promote_s,
// t_promote) are measured from: the inject step at this position (0-based,
// from the scenario's measure_from: <fault id>), else the first fault that
// changed the primary, else the last fault.
struct MetricsOptions {
  std::optional<std::size_t> measure_from;
  std::string measure_from_id;  // the fault id, for measured_from
};

class MetricsPass final : public HistorySink {
 public:
  explicit MetricsPass(MetricsOptions options = {});
  ~MetricsPass() override;
  MetricsPass(const MetricsPass&) = delete;
  MetricsPass& operator=(const MetricsPass&) = delete;
  void on_op(const Op& op) override;
  // `final_ids` is the set of ids read back from the final primary; nullopt
  // if they could not be read (lost_acked then stays unknown and its check fails).
  RunMetrics finish(const std::optional<std::set<std::int64_t>>& final_ids);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The same over a whole history.
RunMetrics compute_metrics(const std::vector<Op>& history, const std::optional<std::set<std::int64_t>>& final_ids);

struct CheckResult {
  std::string metric;
  Bound bound;
  std::optional<double> value;
  bool pass = false;
  std::string reason;
};

struct Verdict {
  bool pass = false;
  std::vector<CheckResult> checks;
  std::string reason;  // one line: why it failed, or what passed
};

Verdict evaluate(const RunMetrics& m, const std::map<std::string, Bound>& checks);

std::string format_bound(const Bound& b);

}  // namespace haverify
