#pragma once
// The Workload interface: what runs during a scenario beside the steps (the
// ledger and bank clients, the maintenance loop, the process sampler), one
// shape for all, like FoundationDB's TestWorkload {setup, start, check,
// getMetrics}:
//   prepare(deadline)  before the run's steps (tables, accounts); may throw
//   start()            starts its threads; throws std::logic_error if started twice
//   stop()             signals and joins; every op already invoked gets its
//                      completion op; idempotent (and done by the destructor)
//   figures()          its counters, named (e.g. ledger "acked")
// Every workload writes its ops into the History it was built with; the
// checkers judge it from there (the workload keeps no per-op state).
//
// make_workload() builds one by name ("ledger", "bank", "reads", "maintenance") from
// the scenario's options, so that a caller needs no per-kind dispatch.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

struct WorkloadFigure {
  std::string name;
  std::int64_t value = 0;
};
using WorkloadFigures = std::vector<WorkloadFigure>;

class Workload {
 public:
  virtual ~Workload() = default;
  virtual void prepare(std::chrono::milliseconds deadline) = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual WorkloadFigures figures() const = 0;
};

// What make_workload needs: the inventory (its endpoint, its nodes) and the
// options of each kind (the runner sets run_id and seed before).
struct WorkloadSettings {
  const Inventory* inventory = nullptr;  // required
  LedgerOptions ledger;
  BankOptions bank;
  ReadsOptions reads;
  MaintenanceOptions maintenance;
};

// The registered names, in registration order: ledger, bank, reads, maintenance.
const std::vector<std::string>& workload_names();
bool is_workload_name(std::string_view name);

// A new, not yet prepared workload of kind `name`, writing into `history`
// (both must outlive it). Throws std::invalid_argument for an unknown name
// or a missing inventory, and what the workload's constructor throws.
std::unique_ptr<Workload> make_workload(std::string_view name, const WorkloadSettings& settings, History& history);

}  // namespace haverify
