#pragma once
// What must hold before any run starts: a usable inventory and no unhealed
// fault left by an earlier run (docs/inventory.md, "Preflight").
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"

namespace haverify {

struct PreflightOptions {
  std::chrono::milliseconds deadline{5000};          // each SSH connect and command, each power read
  const std::vector<Scenario>* scenarios = nullptr;  // the tools their faults need (null: every fault's)
  std::string run_dir;                               // its free space is checked ("" : not)
  double max_clock_offset_s = 0.5;                   // a node's clock against the harness's
  std::uint64_t min_free_bytes = 1ull << 30;         // in run_dir
};

// One row of `haverify inventory check`'s table, one cell per check.
struct NodeCheck {
  std::string node, ssh, root, clock, tools, power;
};

struct Preflight {
  std::vector<NodeCheck> rows;
  std::vector<std::string> problems;  // one line each; empty: the inventory is usable
};

// Connects to every node over SSH (host keys verified), checks that commands
// run as root there (through sudo when the inventory says so), reads the
// node's clock against the harness's and looks for the tools the faults and
// the driver run there; reads every node's power through its controller (a
// power-off must be verifiable before one is injected); checks the free
// space where the run writes.
Preflight preflight(const Inventory& inv, const PreflightOptions& o);
std::vector<std::string> check_inventory(const Inventory& inv, const PreflightOptions& o);

// The programs haverify runs on every node for these scenarios' faults
// (null: for any fault) and for the inventory's driver.
std::vector<std::string> node_tools(const Inventory& inv, const std::vector<Scenario>* scenarios);

// What the driver runs on the harness host itself: the pgpool driver's
// pcp_* tools (driver.pcp_bin_dir, else each directory of `path`, the
// PATH's value) and its pass file (pcp ignores one that others may read),
// and the rejoin script it pushes to the nodes. One line per problem.
std::vector<std::string> harness_host_problems(const Inventory& inv, const std::string& path);

// The rows as an aligned table with a header line.
std::string format_preflight(const Preflight& p);

// Why no run may start while the fault ledger (its default path if empty)
// lists unhealed faults; empty when it lists none.
std::string unhealed_faults_problem(const std::string& ledger_path);

}  // namespace haverify
