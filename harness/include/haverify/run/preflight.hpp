#pragma once
// What must hold before any run starts: a usable inventory and no unhealed
// fault left by an earlier run.
#include <chrono>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"

namespace haverify {

// Connects to every node over SSH (host keys verified) and PostgreSQL and
// returns one line per problem; empty means the inventory is usable.
std::vector<std::string> check_inventory(const Inventory& inv, std::chrono::milliseconds deadline);

// Why no run may start while the fault ledger (its default path if empty)
// lists unhealed faults; empty when it lists none.
std::string unhealed_faults_problem(const std::string& ledger_path);

}  // namespace haverify
