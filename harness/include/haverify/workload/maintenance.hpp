#pragma once
// The `maintenance` workload: VACUUM, VACUUM FULL, ANALYZE, CHECKPOINT,
// pg_basebackup and churn (a rewrite of every row of the bulk table), in a loop (start: maintenance, every `every`) or
// once (a `maintenance:` step, optionally in the background, e.g. right before a fault). SQL goes through the service
// endpoint or straight to the node the probes find primary (`via`); pg_basebackup runs over SSH on a node
// (`basebackup_from`: a node or a role) into a temporary directory that is
// removed afterwards. Each operation is recorded as
//   {maintenance, invoke, <op>, <what>, <target>} then
//   {maintenance, ok|fail, <op>, "<what>; <ms> ms", <target>, error}.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"
#include "haverify/workload/client_threads.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// The command that runs pg_basebackup on `node` from `primary`, and what it
// reads on stdin: the password goes into a temporary .pgpass (mode 0600,
// removed afterwards) through stdin, never onto a command line, which `ps`
// on the node would show.
struct BasebackupCommand {
  std::string command;
  std::string input;  // a .pgpass line, or ""
};
BasebackupCommand basebackup_command(const NodeSpec& node, const NodeSpec& primary);

class MaintenanceWorkload final : public Workload {
 public:
  MaintenanceWorkload(const Inventory& inv, MaintenanceOptions options, History& history);
  ~MaintenanceWorkload() override;  // stop()
  MaintenanceWorkload(const MaintenanceWorkload&) = delete;
  MaintenanceWorkload& operator=(const MaintenanceWorkload&) = delete;

  // Creates and fills the bulk table when bulk_rows > 0 (through the endpoint).
  static void prepare(const Inventory& inv, const MaintenanceOptions& options, std::chrono::milliseconds deadline);
  void prepare(std::chrono::milliseconds deadline) override { prepare(inv_, options_, deadline); }

  void start() override;  // the loop; throws std::logic_error if started twice
  // Stops the loop and joins every background operation (each bounded by
  // its deadline). Idempotent.
  void stop() override;
  WorkloadFigures figures() const override;  // ops_ok, ops_failed
  // One operation now (table / from: "" = the options'); returns whether it
  // succeeded, or true at once for a background one (its outcome is in the History).
  bool run_once(const std::string& op, const std::string& table, const std::string& from, bool background);

 private:
  // One operation's outcome: what ran, where, and why it failed.
  struct Attempt {
    std::string what, target, err;
    bool ok = false;
  };
  bool run_op(const std::string& op, const std::string& table, const std::string& from);
  Attempt run_basebackup(const std::string& op, const std::string& from);
  Attempt run_sql(const std::string& op, const std::string& table);
  std::string basebackup(const NodeSpec& node, const NodeSpec& primary);
  std::string sql_of(const std::string& op, const std::string& table) const;
  void record(OpType type, const std::string& op, std::string value, std::string target, std::string error = {});
  void loop();
  const Inventory& inv_;
  MaintenanceOptions options_;
  History& history_;
  std::mutex mu_;  // guards background_
  std::vector<std::thread> background_;
  std::atomic<std::int64_t> ops_ok_{0}, ops_failed_{0};
  std::atomic<bool> stopping_{false};  // stop(): an op still looking for its node gives up
  ClientThreads loop_;
};

}  // namespace haverify
