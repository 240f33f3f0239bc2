#pragma once
// The recovery phases of the node that took over, read from its PostgreSQL
// server log (docs/metrics.md, "Recovery phases"): how long the WAL replay
// took (redo_s) and the first checkpoint after it (checkpoint_s). A crash
// recovery (shared disk: the surviving node starts the server on the old
// primary's data) and the promotion of a standby leave different lines.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "haverify/cluster/detect.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify {

struct RecoveryPhases {
  std::string log;       // the log read (read_recovery_phases); empty for the parser alone
  Nanos since_wall = 0;  // lines stamped before it were ignored
  // "crash recovery" or "promotion"; empty when the log shows neither.
  std::string kind;
  // Crash recovery: from "redo starts at" to "redo done at" (the figure
  // "elapsed: X s" of the redo done line when it has one), 0 for "redo is not
  // required". Promotion: from the promote request to "redo done at".
  std::optional<double> redo_s;
  // The "total=X s" of the first "checkpoint complete" after the redo ended.
  std::optional<double> checkpoint_s;
  // That checkpoint's flags from its "checkpoint starting:" line
  // ("end-of-recovery immediate wait", "force"); empty when not seen.
  std::string checkpoint_kind;
  std::vector<std::string> evidence;  // the log lines used, in order
  std::vector<std::string> notes;     // where the figures come from, or why one is empty
};

// The phases of the first recovery that starts in `lines` (a PostgreSQL
// server log's lines with their parsed wall times, in file order) at or after
// `since_wall`; earlier lines are ignored. Pure: no I/O.
RecoveryPhases parse_recovery_log(const std::vector<LogLine>& lines, Nanos since_wall);

// The shell word naming `node`'s server log: postgres.log_file, else
// Debian's /var/log/postgresql/postgresql-<major>-main.log, with the major
// version from the data directory's PG_VERSION (or bin_dir's path when that
// is not readable), else, without /var/log/postgresql, data_dir/haverify-start.log
// (as the generic driver's pg_ctl start). Returns a prelude setting $log.
std::string server_log_prelude(const NodeSpec& node);

// Reads `node`'s server log over its kept SSH session (the lines that
// matter, stamped at or after `since_wall`) and parses it. A log that cannot
// be read gives empty phases with a note saying why.
RecoveryPhases read_recovery_phases(const Inventory& inv, TransportPool& pool, const std::string& node,
                                    Nanos since_wall, std::chrono::milliseconds deadline);

// recovery.txt: the node, kind, figures, notes and evidence lines.
std::string describe(const RecoveryPhases& p, const std::string& node);

}  // namespace haverify
