#pragma once
// One run: a scenario repetition with a seed, against one inventory.
#include <cstdint>
#include <string>

#include "faults/ledger.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/run/runner.hpp"
#include "reports/results.hpp"

namespace haverify {

struct RunSessionParams {
  const Inventory& inv;
  const Scenario& sc;
  const RunOptions& opts;
  faults::FaultLedger& ledger;
  DriverOptions driver;
  int repetition = 1;
  std::uint64_t seed = 0;
  std::string run_dir;
};

// Runs the session (session.cpp): setup (health, prepare), the steps,
// teardown (stop workloads, heal, restore), the final read (convergence),
// the verdict and the run's reports. Throws only when the run directory or
// its History cannot be set up; every other failure is the row's `error`.
reports::RunRow run_session(const RunSessionParams& params);

}  // namespace haverify
