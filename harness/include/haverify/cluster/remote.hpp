#pragma once
// Running commands on the cluster's nodes, the helpers the drivers share.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

// What is left until `until`, at least 1 ms (a deadline for the next call).
std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point until);

// The last few hundred characters of a command's output as ": <output>" for
// messages; empty when there is none.
std::string output_tail(const ExecResult& r);

// Asks the node that answered last time (TransportPool::last_answered), then
// the others in inventory order, and returns the first successful answer;
// `errors` collects the others.
ExecResult run_on_first_node(const Inventory& inv, TransportPool& pool, const std::string& command,
                             std::chrono::milliseconds deadline, std::string* errors);
// Runs `script` (a local file) on `node` with `[VAR=value...] bash -s -- ARGS`
// over SSH; throws with its output on failure.
void run_script_over_ssh(TransportPool& pool, const std::string& node, const std::string& script_path,
                         const std::vector<std::string>& args, std::chrono::milliseconds deadline,
                         const std::string& what, const std::map<std::string, std::string>& env = {});
// Runs `command` on each of `nodes` at once, each on its own kept SSH session,
// launched in the order given; the results in that order.
std::vector<ExecResult> run_on_nodes_parallel(TransportPool& pool, const std::vector<std::string>& nodes,
                                              const std::string& command, std::chrono::milliseconds deadline);

}  // namespace haverify
