#pragma once
// The steps of a run, one function per step kind (steps.cpp), over the
// state of the run they act on.
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "faults/exec.hpp"
#include "faults/injector.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/history.hpp"
#include "haverify/run/cluster_ops.hpp"
#include "haverify/run/watches.hpp"
#include "haverify/workload/maintenance.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// The workloads of one run, by name through make_workload (no per-kind
// dispatch): those the scenario configures are built and prepared at setup;
// a `start` step starts one (building it with default options if the
// scenario did not configure it); `stop` steps and the teardown stop them.
class RunWorkloads {
 public:
  RunWorkloads(const Inventory& inv, History& history);
  WorkloadSettings settings;  // the options of each kind (the session sets run_id and seed)
  void prepare(const std::string& name, std::chrono::milliseconds deadline);
  void start(const std::string& name);  // once per run: a second start leaves it as it is
  void stop(const std::string& name);
  void stop_all();  // in the order they were built
  // The maintenance workload, for `maintenance:` steps; throws HarnessFailure
  // when the scenario has no `maintenance:` block.
  MaintenanceWorkload& maintenance();

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Workload> workload;
    bool started = false;
  };
  Entry& entry(const std::string& name);  // built on first use
  Entry* find(const std::string& name);
  History& history_;
  std::vector<Entry> entries_;
};

// What the steps act on (owned by the RunSession).
struct StepContext {
  const Inventory& inv;
  const Scenario& sc;
  ClusterDriver& driver;
  TransportPool& pool;
  History& history;
  std::mt19937_64& rng;
  faults::FaultInjector& injector;
  faults::Execs& execs;
  ClusterOps& cluster_ops;
  AckWatch& acks;
  RunWorkloads& workloads;
  std::string log_prefix;  // "<scenario> #<repetition>"
  // The first inject step's target labels ("primary"), each completed with
  // the nodes it resolved to ("primary->node1") when it runs.
  std::vector<std::string>& first_inject_targets;
  int auto_fault_id = 0;  // f1, f2, ... for faults without an id
  int auto_exec_id = 0;   // x1, x2, ... for background commands without an id
};

// Runs one step; returns why it was skipped (cluster steps only). Throws
// HarnessFailure (or the fault/workload layers' errors) when it fails.
std::optional<std::string> run_step(StepContext& ctx, const Step& step);

}  // namespace haverify
