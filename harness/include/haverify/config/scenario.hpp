#pragma once
// Scenario files (YAML): steps, checks with bounds and a repeat count.
// See docs/scenarios.md for the reference.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "haverify/config/workload_options.hpp"

namespace haverify {

struct FaultSpec {
  std::string id;                    // optional name used by `heal: <id>`
  std::string kind;                  // power_off | lan_cut | process_kill | process_pause
  std::vector<std::string> targets;  // node names or roles (primary, standby, standby:N, standbys, all, pool)
  std::string lan;                   // lan_cut
  std::string method = "link";       // lan_cut: link | nft
  std::string direction = "both";    // lan_cut with nft: both | in | out
  // lan_cut with nft: only TCP traffic to and from this port (e.g. 5432:
  // blind haverify's probes on the management LAN, SSH untouched).
  std::optional<int> port;
  // lan_cut with nft: only traffic between the target and this node or role
  // on the LAN (a broken path between two hosts: one pgpool losing the
  // primary while the others still see it). Resolved with the targets, into
  // peer_nodes, when the step runs.
  std::string peer;
  std::vector<std::string> peer_nodes;
  std::string process;  // process_kill: see process_selectors() | name:<comm> | pidfile:<path>
  std::string signal = "KILL";
  std::optional<std::chrono::milliseconds> duration;  // heal at the end of the step
  std::optional<std::chrono::milliseconds> pause;     // process_pause: SIGSTOP..SIGCONT
  // lan_cut: the cut heals itself on the node `duration` after it began (a
  // detached timer armed there before the cut), so that a cut of the LAN
  // haverify reaches the node over is healed even though haverify cannot
  // reach it (docs/scenarios.md, "Self-healing cuts").
  bool self_heal = false;
  // The cut begins this long after haverify sent the command that arms it,
  // time for the answer to come back first.
  std::chrono::milliseconds self_heal_arm{500};
  int line = 0;  // where it was declared, for messages
  std::string describe() const;
};

// exec: a command on a node (a name or a role resolved when the step runs).
struct ExecSpec {
  std::string id;      // names a background command (default x1, x2, ...)
  std::string target;  // node name, primary or standby
  std::string command;
  bool background = false;                   // killed at the end of the run (and by `haverify heal` after a crash)
  std::chrono::milliseconds timeout{60000};  // foreground: the command must exit 0 within this
};

// maintenance: one operation now (see MaintenanceWorkload).
struct MaintenanceStepSpec {
  std::string op;     // vacuum | vacuum_full | analyze | checkpoint | basebackup
  std::string table;  // "" = workload.maintenance.table
  std::string from;   // basebackup: node or role; "" = workload.maintenance.basebackup_from
  bool background = false;
};

// cluster: one planned operation through the cluster driver.
struct ClusterStepSpec {
  std::string op;    // switchover | stop_node | start_node | rejoin | rebuild | stop | start
  std::string node;  // stop_node, start_node, rejoin, rebuild; `to` of a switchover
  // A node name, primary, standby, standby:N, sync_standby, original_primary
  // (the primary when the steps began), previous_primary (the primary when
  // the last switchover began) or stopped (the node the last stop_node
  // stopped), resolved when the step runs.
  std::chrono::milliseconds timeout{300000};
  std::vector<std::string> skip_if;  // shared_disk | driver:<type>: the step is skipped (recorded as such)
};

// The operations of a cluster step, and the conditions of its skip_if.
const std::vector<std::string>& cluster_ops();
bool cluster_op_takes_node(const std::string& op);  // stop_node, start_node, rejoin, rebuild
bool valid_skip_condition(const std::string& condition);

enum class StepKind { start, stop, wait, inject, heal, await_writes, recover, soak, exec, maintenance, cluster };

struct Step {
  StepKind kind = StepKind::wait;
  std::string workload;                   // start/stop
  std::chrono::milliseconds duration{0};  // wait, soak; timeout for await_writes/recover
  // recover: how long the cluster must stay healthy before recover is done (a manager
  // that just restarted may withdraw a standby's promotability a few seconds later).
  std::chrono::milliseconds settle{10000};
  // recover: {repair: allowed}: what recover repairs beyond powering on and
  // rejoining what the scenario broke is noted, not a failure.
  bool repair_allowed = false;
  std::vector<FaultSpec> faults;    // inject: one or more, fired at once (docs/scenarios.md)
  std::string heal_id;              // heal: id or "all"
  ExecSpec exec;                    // exec
  MaintenanceStepSpec maintenance;  // maintenance
  ClusterStepSpec cluster;          // cluster
  int line = 0;
  int col = 0;
  std::string describe() const;
};

struct Bound {
  std::optional<double> min;
  std::optional<double> max;
};

// What the scenario asserts happened (`expect:`, or the plan sheet's
// `expected` column; docs/checkers.md, "expectation").
struct Expectation {
  std::string outcome;  // one of expectation_outcomes()
  // failover, local-restart, failover-or-restart: writes through the
  // endpoint resume within this after the fault.
  std::chrono::milliseconds resume_within{60000};
  std::chrono::milliseconds max_write_gap{30000};  // no-failover: the longest write gap
  std::chrono::milliseconds min_outage{1000};      // outage: writes stop at least this long
};

// failover, no-failover, local-restart, failover-or-restart, outage.
const std::vector<std::string>& expectation_outcomes();
bool is_expectation_outcome(const std::string& outcome);

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  std::string kind;  // normal | single-fault | multi-fault | long-run | switchover-timing
  int repeat = 1;
  std::optional<LedgerOptions> ledger;
  std::optional<BankOptions> bank;
  std::optional<ReadsOptions> reads;
  std::optional<MaintenanceOptions> maintenance;
  std::optional<SamplerOptions> sampler;  // on when the scenario has a sampler: block
  // After the steps: how long to wait for every standby to converge.
  std::chrono::milliseconds converge_timeout{60000};
  std::vector<Step> steps;
  std::map<std::string, Bound> checks;              // metric -> bound, ordered by name
  std::optional<Expectation> expect;                // expect:
  std::chrono::milliseconds setup_timeout{120000};  // wait for a healthy cluster first
  // measure_from: the fault id the timings (failover_s, detect_s, promote_s)
  // are measured from; "" = the first fault that changed the primary, else
  // the last fault (docs/metrics.md).
  std::string measure_from;

  // The first inject step's first fault (the fault the run is "about"), if any.
  const FaultSpec* primary_fault() const;
  // The first inject step (all the faults the run is "about"), if any.
  const Step* first_inject() const;
  bool has_soak() const;
  bool has_cluster_steps() const;
  bool has_await_writes() const;
  // The position (0-based, among the inject steps) of the inject step with
  // a fault of this id.
  std::optional<std::size_t> inject_step_of(const std::string& fault_id) const;
  // Sets the length of every soak step (haverify run --duration).
  void override_soak(std::chrono::milliseconds d);
};

// The named process selectors of process_kill / process_pause (besides
// name:<comm> and pidfile:<path>): postmaster, walreceiver, pgpool and the
// managed daemons of the Pacemaker and Patroni stacks.
const std::vector<std::string>& process_selectors();
bool valid_process_selector(const std::string& s);

// The metric names a check may bound.
const std::vector<std::string>& known_metrics();

// Throws ConfigError with every problem (file:line:col, key).
Scenario load_scenario(const std::string& path);
Scenario parse_scenario(const std::string& yaml_text, const std::string& name);

}  // namespace haverify
