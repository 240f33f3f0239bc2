#pragma once
// The fault ledger: every fault is written to disk *before* it is injected,
// with everything needed to heal it (where to run the heal command, and the
// command), so that `haverify heal` can undo it after a crash of the harness.
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "haverify/io/transport.hpp"

namespace haverify::faults {

struct LedgerEntry {
  std::string id;    // unique per injected action
  std::string run;   // the run that injected it
  std::string kind;  // power_off | lan_cut | process_kill
  std::string node;
  std::string description;
  std::string where = "local";  // local | ssh
  SshTarget ssh;                // when where == ssh
  std::string heal_command;     // empty: nothing to undo
  std::string void_if_off;      // local command: exit 0 = the node is off, the fault died with it
  std::string lab_state_dir;    // exported as HAVERIFY_LAB_STATE for local lab commands
  std::string injected_at;      // wall time, ISO-8601
};

class FaultLedger {
 public:
  explicit FaultLedger(std::string path);
  const std::string& path() const { return path_; }

  // Default location: $HAVERIFY_LEDGER, else /var/lib/haverify/fault-ledger.json.
  static std::string default_path();

  void add(const LedgerEntry& e);      // durable (fsync) before returning
  void remove(const std::string& id);  // durable
  std::vector<LedgerEntry> entries() const;

 private:
  std::vector<LedgerEntry> load_locked() const;
  void store_locked(const std::vector<LedgerEntry>& entries) const;
  std::string path_;
  mutable std::mutex mu_;
};

// Runs one entry's heal command with the right transport. Returns an empty
// string on success, else what went wrong.
std::string heal_entry(const LedgerEntry& e, std::chrono::milliseconds deadline);

}  // namespace haverify::faults
