#pragma once
// Test plans: `haverify plan single-fault|multi-fault` enumerates the faults an
// inventory allows, writes one scenario per item and a sheet (plan.csv) that
// `haverify run --plan` runs and fills in. See docs/scenarios.md ("Plans").
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/errors.hpp"

namespace haverify {

// A bad plan sheet: every problem as "plan.csv:LINE: column X: message".
// A plan id (a scenario name and its file name): a name (valid_name) of at
// most this many characters (multi-fault ids join two single-fault ones).
inline constexpr std::size_t kPlanIdMaxLen = 128;

class PlanError : public UsageError {
 public:
  explicit PlanError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// One single fault of a plan: a fault on one target (a role, or `pool`).
// How long a planned self-healing cut lasts (a cut of a LAN that carries
// haverify's SSH or probes): the node heals it itself after this, longer than
// the failovers the plans bound (30 s).
inline constexpr std::chrono::milliseconds kSelfHealingCut{40000};

struct PlannedFault {
  std::string slug;       // e.g. kill-postmaster-primary
  FaultSpec spec;         // one target
  std::string component;  // node | process:<selector> | lan:<lan>, for the pairing rule
  std::string expected;   // failover | no-failover | outage | split-brain-risk | ...
};

// One row of plan.csv.
struct PlanRow {
  std::string id, kind, fault, target_role, lan, process, expected, bounds, scenario_file;
  // Result columns, filled in by `haverify run --plan`.
  std::string verdict, failover_s, lost_acked, reason, run_dir, seed;
  unsigned line = 0;  // in the sheet it was read from
};

const std::vector<std::string>& plan_header();
std::vector<std::string> plan_fields(const PlanRow& row);
void write_plan_csv(const std::string& path, const std::vector<PlanRow>& rows);

// Reads and validates a sheet: column count, known kind, bounds syntax, an
// existing and valid scenario file (relative to the sheet's folder, or to
// `base_dir` if given: a copy of a sheet read where the original was),
// unique ids. Throws PlanError listing every problem. `scenarios` (if given)
// receives each row's scenario with the sheet's bounds applied.
std::vector<PlanRow> read_plan_csv(const std::string& path, std::vector<Scenario>* scenarios = nullptr,
                                   const std::string& base_dir = {});

// Bounds text: `metric<=x;metric>=y;metric==z` (`none`: no bounds). Throws
// std::invalid_argument saying what is wrong.
std::map<std::string, Bound> parse_bounds(const std::string& text);
std::string format_bounds(const std::map<std::string, Bound>& bounds);

// Stack family from driver.type, else from the stack name:
// pgpool | pacemaker | patroni | generic.
std::string stack_family(const Inventory& inv);
// The managed processes `--stack-processes auto` kills for a family.
std::vector<std::string> stack_processes(const Inventory& inv);
// Role targets: primary, then `standby` (two nodes) or standby:1..N.
std::vector<std::string> role_targets(const Inventory& inv);

// Every single fault the inventory allows (see docs/scenarios.md).
std::vector<PlannedFault> single_faults(const Inventory& inv, const std::vector<std::string>& processes);

// Whether two single faults may be combined: different targets, or the same
// target and different components with neither a power-off.
bool combinable(const PlannedFault& a, const PlannedFault& b);

struct PlanItem {
  std::string id;
  std::string kind;  // single-fault | multi-fault
  std::vector<PlannedFault> faults;
  std::string expected;
  std::map<std::string, Bound> bounds;
  // A site power loss (`power-all`): after the heal (every node powered on)
  // the cluster is started as after a real one (`cluster: {op: start}`).
  bool restart_cluster = false;
  // How long the fault is held after the writes resumed, before the heal
  // (long enough for what the item is about to happen, or not).
  std::chrono::milliseconds hold{5000};
};
std::vector<PlanItem> single_fault_plan(const Inventory& inv, const std::vector<std::string>& processes);
// Every combinable pair, then the named combinations (svc-primary_x_repl-both,
// ic-all, power-all: docs/scenarios.md).
std::vector<PlanItem> multi_fault_plan(const Inventory& inv, const std::vector<std::string>& processes);

// The scenario YAML of an item.
std::string scenario_yaml(const PlanItem& item, const Inventory& inv);

// Writes <dir>/<id>.yaml for each item and <dir>/plan.csv. Refuses to replace
// an existing plan.csv unless `force` (it may hold results).
void write_plan(const std::string& dir, const std::vector<PlanItem>& items, const Inventory& inv, bool force);

}  // namespace haverify
