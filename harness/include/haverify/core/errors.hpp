#pragma once
// Errors and the exit-code contract (docs/cli.md, "Exit codes").
//
// Two error kinds, as in ccache's core/exceptions.hpp: a UsageError is the
// user's to fix (a bad flag, scenario, inventory or plan sheet; nothing was
// injected), a HarnessFailure is haverify failing to do its job (a fault
// that did not take effect, a heal that failed). Every exception class of
// haverify derives from one of them (ConfigError, PlanError, CsvReadError,
// TransportError: usage; FaultError: harness), so `main` maps any exception
// to its exit code in one place (exit_status_of). A cluster defect is a
// verdict (`fail`, exit 1): a ClusterDefect thrown while a run goes on (the
// cluster did not become healthy) ends the run's steps, and the session
// turns it into a `fail` row that keeps every checker's verdict.
#include <stdexcept>
#include <string>

namespace haverify {

// What `haverify` exits with.
enum class ExitStatus : int {
  pass = 0,            // every verdict is pass
  verdict_failed = 1,  // a verdict is fail or unknown
  usage = 2,           // usage or configuration error: nothing was injected
  harness = 3,         // haverify itself failed, or it was interrupted (after healing)
};

constexpr int exit_code(ExitStatus s) {
  return static_cast<int>(s);
}

// A usage or configuration error (exit 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// haverify failed to do its job (exit 3).
class HarnessFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The cluster misbehaved so that the run could not go on (it did not become
// healthy within the deadline; the manager refused a planned operation or
// did not complete it in time): a finding, not haverify's failure (exit 1).
class ClusterDefect : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The exit status an exception that reached `main` stands for: usage for a
// UsageError, verdict_failed for a ClusterDefect, harness for anything else
// (a HarnessFailure, or a bug).
inline ExitStatus exit_status_of(const std::exception& e) {
  if (dynamic_cast<const UsageError*>(&e)) return ExitStatus::usage;
  if (dynamic_cast<const ClusterDefect*>(&e)) return ExitStatus::verdict_failed;
  return ExitStatus::harness;
}

}  // namespace haverify
