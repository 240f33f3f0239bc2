#pragma once
// The fault ledger: every fault is written to disk *before* it is injected,
// with everything needed to heal it (where to run the heal command, and the
// command), so that `haverify heal` can undo it after a crash of the harness.
//
// The reader accepts only the ledger's own schema (docs/architecture.md,
// "Healing guarantees"): a file that is not a ledger at all is a LedgerError
// naming it; an entry it cannot fully validate is kept verbatim, never healed
// and never dropped.
#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "haverify/core/errors.hpp"
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

// A fault ledger that is not haverify's own (not a regular file, unreadable,
// not JSON, not {"faults": [...]}, or listing an entry that is not valid): the
// user's to fix (exit 2). The message names the file and what is wrong.
class LedgerError : public UsageError {
 public:
  using UsageError::UsageError;
};

// An entry of the ledger that is not fully valid: nothing of it runs; it is
// written back as it was whenever the ledger is rewritten.
struct InvalidLedgerEntry {
  std::size_t index = 0;  // position in "faults"
  std::string problem;    // "faults[2] (id 'x'): ssh.port: 1e+300 is not ..."
  std::string json;       // the entry as it was (compact JSON)
};

struct LedgerContents {
  std::vector<LedgerEntry> entries;
  std::vector<InvalidLedgerEntry> invalid;
};

// Parses a ledger's text; `path` names it in errors. Throws LedgerError when
// the text as a whole is not a ledger; an entry that is not valid goes to
// `invalid` with what is wrong. Empty text is an empty ledger.
LedgerContents parse_ledger(const std::string& text, const std::string& path);

class FaultLedger {
 public:
  explicit FaultLedger(std::string path);
  const std::string& path() const { return path_; }

  // Default location: $HAVERIFY_LEDGER, else /var/lib/haverify/fault-ledger.json.
  static std::string default_path();

  // add and remove keep every invalid entry as it was.
  void add(const LedgerEntry& e);      // durable (fsync) before returning
  void remove(const std::string& id);  // durable
  // The valid entries; throws LedgerError if the ledger lists an invalid one
  // (nothing may run while the ledger holds what haverify cannot read).
  std::vector<LedgerEntry> entries() const;
  // Everything the ledger lists (for `haverify heal`); throws LedgerError only
  // when the file as a whole is not a ledger.
  LedgerContents contents() const;

 private:
  LedgerContents load_locked() const;
  void store_locked(const LedgerContents& contents) const;
  std::string path_;
  mutable std::mutex mu_;
};

// Runs one entry's heal command with the right transport. Returns an empty
// string on success, else what went wrong.
std::string heal_entry(const LedgerEntry& e, std::chrono::milliseconds deadline);

// `haverify heal`: runs the heal of every valid entry and removes each one
// healed. An entry the reader could not fully validate runs nothing and stays
// in the ledger; it is reported on `err` with the file and what is wrong.
// Returns pass (all healed), usage (an entry could not be read) or harness (a
// heal failed). Throws LedgerError when the file is not a ledger at all.
ExitStatus heal_all(FaultLedger& ledger, std::chrono::milliseconds deadline, std::ostream& out, std::ostream& err);

}  // namespace haverify::faults
