#pragma once
// The process lineages of the memory_growth checker: per (node, process
// name), the pids that followed one another. A process with one pid at a
// time whose pid changes restarted; a restart with no fault, recover,
// planned operation or exec shortly before it is unexplained. Its memory
// growth summed across its pids is judged too: a leaking process respawned
// faster than its series can be fitted is not invisible. Internal to the
// memory_growth pass.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "haverify/check/checker.hpp"
#include "pass_text.hpp"

namespace haverify::detail {

struct LineageOptions {
  double max_mb_per_hour = 10;               // summed growth bound (the checker's)
  std::size_t min_samples = 10;              // summed growth needs this many samples in all
  int max_restarts = 0;                      // unexplained restarts allowed
  Nanos restart_grace_ns = 120'000'000'000;  // a cause this long before a restart explains it
};

class Lineages {
 public:
  explicit Lineages(LineageOptions o) : o_(o) {}
  // A cause: a fault, recover, planned operation or exec (anything on any node).
  void observe_cause(const Op& op);
  // One process sample of a sampler round (`round` counts the node's rounds).
  void sample(const std::string& node, std::size_t round, std::int64_t pid, const std::string& process, Nanos t,
              double mb);
  // Figures restarts, restarts_explained; reasons; true when it fails.
  bool finish(CheckerVerdict& v, const TimeRef& tr) const;

 private:
  struct Segment {
    std::int64_t pid = 0;
    Nanos first_t = 0, last_t = 0;
    double first_mb = 0, last_mb = 0;
    std::size_t n = 0;
  };
  struct Lineage {
    bool multi = false;  // several pids at once (pgpool children, backends): no restarts judged
    std::size_t round = 0;
    std::set<std::int64_t> in_round;
    std::vector<Segment> segments;
  };
  bool explained(Nanos t) const;

  LineageOptions o_;
  std::vector<Nanos> causes_;                                     // in time order
  std::map<std::pair<std::string, std::string>, Lineage> lines_;  // (node, process) ->
};

}  // namespace haverify::detail
