#pragma once
// Reading the cluster's final state after a run (for the checkers), and the
// convergence wait: every standby reachable, in recovery, on the primary's
// timeline, streaming from it, with the same rows in the workload tables.
#include <chrono>
#include <optional>
#include <string>

#include "haverify/check/checkers.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

struct FinalStateOptions {
  std::int64_t run_id = 0;
  std::string ledger_table;  // empty: no ledger workload ran
  std::string bank_table;    // empty: no bank workload ran
  std::int64_t bank_expected_total = 0;
  std::int64_t bank_initial_balance = 0;
};

FinalState read_final_state(const Inventory& inv, ClusterDriver& driver, const FinalStateOptions& opts);

// The bank's transfer log of opts.run_id on the node behind `conn` (the
// primary): the applied ids, and the accounts whose balance is not
// opts.bank_initial_balance plus the logged transfers. nullopt on failure.
std::optional<FinalState::BankLog> read_bank_log(PGconn* conn, const FinalStateOptions& opts,
                                                 std::chrono::milliseconds deadline);

// Empty when converged, else what is still different (one reason per node).
std::string divergence(const FinalState& s);

// Reads the final state until it has converged or `timeout` passes; sets
// converged_mono to when convergence was first seen. Records runner ops.
FinalState await_convergence(const Inventory& inv, ClusterDriver& driver, const FinalStateOptions& opts,
                             std::chrono::milliseconds timeout, History& history);

}  // namespace haverify
