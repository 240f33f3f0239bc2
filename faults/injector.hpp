#pragma once
// Executes planned fault actions: ledger first, then inject, verify, and heal.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faults/fault.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"
#include "haverify/io/transport.hpp"

namespace haverify::faults {

// One fault of an inject step, its targets already resolved to nodes.
struct StepFault {
  std::string id;
  FaultSpec spec;
  std::vector<std::string> nodes;
};

class FaultInjector {
 public:
  FaultInjector(const Inventory& inv, TransportPool& pool, FaultLedger& ledger, History& history, std::string run_id,
                std::chrono::milliseconds deadline);
  ~FaultInjector();

  // Injects every action of every fault of one step at the same instant:
  // all actions are planned, written to the ledger and their SSH sessions
  // opened first; then one thread per action waits at a barrier and all are
  // released together. Each records its own inject invoke (t_inject_sent)
  // and ok/fail. With two or more actions, the spread (max - min) of their
  // send times is recorded as an `injection_skew` event in milliseconds and
  // returned. Then every action is verified. Throws FaultError if injection
  // or verification fails (what was injected is still healable).
  std::optional<double> inject_step(const std::vector<StepFault>& faults);

  // Heals every action of `fault_id`; returns error texts (empty = all healed).
  std::vector<std::string> heal(const std::string& fault_id);
  // Heals everything still active; never throws.
  std::vector<std::string> heal_all();
  // The faults injected without a way to verify them (a power controller
  // with verify: none), for the row's reason.
  const std::vector<std::string>& unverified() const { return unverified_; }

 private:
  struct Active {
    FaultAction action;
    LedgerEntry entry;
    Nanos heal_due = 0;  // a self-healing fault: when the node heals itself (mono)
  };
  struct Planned;  // an action of this step, its ledger entry and its transport
  struct Outcome;  // what its inject command returned, and when it was sent
  std::vector<Planned> plan_step(const std::vector<StepFault>& faults);
  Active plan_action(const StepFault& f, const NodeSpec& node);
  void enter_in_ledger(std::vector<Planned>& planned, const std::vector<StepFault>& faults);
  std::vector<Outcome> release_at_barrier(const std::vector<Planned>& planned);
  void inject_one(const FaultAction& act, Transport& t, const std::string& command, Outcome& out);
  void arm_one(const FaultAction& act, Transport& t, const std::string& command, Outcome& out);
  // The inject's ok, or its fail with what the command said.
  void record_inject_result(const FaultAction& act, const ExecResult& r);
  ExecResult await_self_heal(const Active& a);
  std::optional<double> record_skew(const std::vector<Outcome>& outcomes);
  void verify_all(const std::vector<Planned>& planned);
  std::string heal_one(const Active& a);
  // A `nemesis` op.
  void record(OpType type, std::string_view f, std::string value, std::string node, std::string error = {});
  const Inventory& inv_;
  TransportPool& pool_;
  FaultLedger& ledger_;
  History& history_;
  std::string run_id_;
  std::chrono::milliseconds deadline_;
  std::multimap<std::string, Active> active_;  // fault id -> actions
  std::vector<std::string> order_;             // fault ids in injection order
  int seq_ = 0;
  std::vector<std::string> unverified_;
};

}  // namespace haverify::faults
