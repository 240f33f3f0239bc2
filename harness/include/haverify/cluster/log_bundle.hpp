#pragma once
// The log bundle of a run (issue 16 item 4): from every node, the slice of
// its PostgreSQL log and of the cluster manager's log (the inventory's
// driver.detect_log: corosync, pgpool, patroni; and Pacemaker's own log on
// the Pacemaker stacks) that covers the run, in <out>/<node>/<file>. Read
// over SSH, bounded in size, best effort: what could not be read is said in
// <out>/collect.txt. `haverify collect --since T` gathers the same by hand.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "haverify/cluster/detect.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify {

class TransportPool;

struct LogBundleOptions {
  Nanos since_wall = 0;                       // the slice's start (wall clock)
  Nanos until_wall = 0;                       // its end; 0: now
  Nanos margin_ns = 5'000'000'000;            // also this much before and after
  std::size_t max_bytes = 4u << 20;           // per file: the log's last bytes read at most
  std::chrono::milliseconds deadline{60000};  // for the whole bundle
};

struct LogBundleResult {
  std::size_t files = 0;           // slices written
  std::vector<std::string> notes;  // one per log that could not be read or was cut
};

// The lines of `text` (a log's tail) stamped in [since, until] (their
// leading timestamps, parse_log_time), each with the untimed lines that
// follow it (a message's continuation lines). `cut` says whether the text's
// first timed line is already inside the window (the tail began too late).
std::string slice_log(const std::string& text, Nanos since_wall, Nanos until_wall, bool* cut);

LogBundleResult collect_logs(const Inventory& inv, TransportPool& pool, const std::string& out_dir,
                             const LogBundleOptions& o);

}  // namespace haverify
