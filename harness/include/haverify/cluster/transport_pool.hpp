#pragma once
// The harness's connections to the nodes of one inventory: kept SSH sessions
// per node (and slot) plus a local transport for commands on the harness host.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

// Kept SSH sessions per node plus a local transport; not thread-safe by
// design (the runner's thread owns it). A node has slot 0 for ordinary use
// and further slots so that several faults of one step can run on the same
// node at the same instant (one session is never shared between threads).
class TransportPool {
 public:
  explicit TransportPool(const Inventory& inv);
  Transport& node(const std::string& name, int slot = 0);
  Transport& local() { return local_; }
  // Opens the node's SSH session now, so that a later exec costs one channel
  // round trip (no connect or authentication inside a fault's timing).
  void preconnect(const std::string& name, int slot = 0);
  // A command for the harness host, with the lab's environment.
  std::string local_command(const std::string& command) const;
  ExecResult run(const std::string& where, const std::string& node, const std::string& command,
                 std::chrono::milliseconds deadline);
  const Inventory& inventory() const { return inv_; }
  // The node that last answered a question any node could answer
  // (run_on_first_node): asked first next time, so a node that just came
  // back and hangs is not asked first each time.
  const std::string& last_answered() const { return last_answered_; }
  void set_last_answered(const std::string& node) { last_answered_ = node; }

 private:
  const Inventory& inv_;
  std::string last_answered_;
  std::map<std::pair<std::string, int>, std::unique_ptr<SshTransport>> ssh_;
  LocalTransport local_;
};

}  // namespace haverify
