#pragma once
// The read_your_writes checker: the reads workload's reads of acknowledged
// rows, judged (docs/checkers.md).
#include <cstdint>
#include <map>
#include <string>

#include "haverify/check/checker.hpp"

namespace haverify {

struct ReadYourWritesOptions {
  // Every inventory address (without prefix) -> node; an address of two
  // nodes is left out. A read's server is named by it, else "addr:port".
  std::map<std::string, std::string> node_of_address;
  std::int64_t max_stale = 0;           // stale reads of a client's own writes accepted
  std::int64_t max_stale_foreign = -1;  // of other clients' writes; -1: any (reported only)
};

// Each completed read of the `reads` workload (process reader-N, f read, ok)
// read a row acknowledged before the read started; it is stale if it did not
// see it. Per serving node: reads, stale reads of the client's own rows and
// of other clients' rows. The staleness of a stale read is the time from the
// write's acknowledgement to the first re-read that saw the row (a lower
// bound, since_ack_ms, when none did within reread_for).
// Figures: reads_ok, reads_stale (own), reads_stale_foreign,
// reads_stale_unresolved (never seen within reread_for), read_staleness_ms
// (the worst; 0 without a stale read), reads_bad (malformed read ops).
// fail: reads_stale > max_stale, or reads_stale_foreign > max_stale_foreign
// (when >= 0); unknown: no read completed, or a malformed read op (the
// history cannot be trusted); else pass.
class ReadYourWritesChecker final : public Checker {
 public:
  explicit ReadYourWritesChecker(ReadYourWritesOptions options = {}) : options_(std::move(options)) {}
  std::string name() const override { return "read_your_writes"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  ReadYourWritesOptions options_;
};

}  // namespace haverify
