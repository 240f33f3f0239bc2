#pragma once
// Checkers: a run's History plus the cluster's final state -> a verdict
// pass | fail | unknown, with figures (numbers for results.csv) and reasons.
// `unknown` means the checker could not decide (missing data, or it threw);
// it is never silently a pass. See docs/checkers.md for the rules; one file
// per checker (durability.hpp, single_writer.hpp, convergence.hpp, bank.hpp,
// memory_growth.hpp; checkers.hpp includes them all).
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

#include "haverify/cluster/health.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

enum class CheckStatus { pass, fail, unknown };

const char* to_string(CheckStatus s);

// A stretch of the run a checker marks (two writable nodes, a node unseen
// while another was writable), in seconds from the run's first op (the
// t_rel_s of events.csv): report.html draws them on the run's timeline.
struct MarkedWindow {
  std::string kind;  // split_brain | unknown
  double from_s = 0;
  double to_s = 0;
  std::string label;  // what it is, for people: "node1 and node2 writable"
};

struct CheckerVerdict {
  std::string checker;
  CheckStatus status = CheckStatus::unknown;
  std::map<std::string, double> figures;  // absent = could not be computed
  std::vector<std::string> reasons;       // why it failed / was unknown, and notable findings
  std::vector<MarkedWindow> windows;      // where in the run (run.json; at most kMaxMarkedWindows)
};

inline constexpr std::size_t kMaxMarkedWindows = 1000;

// Read from each node after the run (the runner fills it): its role as
// cluster/health.hpp judges it (streaming_from_primary per the primary's
// pg_stat_replication), and its data.
struct NodeFinalState : NodeReading {
  std::optional<std::set<std::int64_t>> ledger_ids;  // ids of this run present on the node
  std::string ledger_note;  // why ledger_ids is what it is, when it says more than the ids (a missing table)
  std::map<std::string, std::string> table_checksums;  // table -> checksum (e.g. md5 of ordered rows)
};

struct FinalState {
  std::string primary;  // the node the cluster manager names primary after the run ("" = unknown)
  std::vector<NodeFinalState> nodes;
  std::optional<std::int64_t> bank_total;  // read from the primary after the run
  std::int64_t bank_expected_total = 0;
  // The bank's transfer log on the primary after the run: the ids of the
  // applied transfers (sorted), and the accounts whose balance is not the
  // initial balance plus the logged transfers ("account 3: balance 990,
  // the log says 1010"; at most 10 described, all counted).
  struct BankLog {
    std::vector<std::int64_t> applied_ids;
    std::int64_t mismatched_accounts = 0;
    std::vector<std::string> mismatches;
  };
  std::optional<BankLog> bank_log;  // nullopt: not read
  // When the runner's convergence wait first saw every standby converged;
  // nullopt = never within its deadline.
  std::optional<Nanos> converged_mono;
  // What the convergence wait still saw missing at its deadline ("" if it
  // converged, or was not run).
  std::string convergence_gap;
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

}  // namespace haverify
