#pragma once
// report.html: one self-contained page per suite (no script or style from
// the network): the suite table (sortable, filterable by verdict, stack and
// fault), the architects' chart of failover_s and median phases per group,
// and per run its phase bar, its timeline and its checkers. Written at the
// end of a suite, by `haverify report merge`, and by `haverify report html
// DIR`. docs/report-html.md says what is drawn and how.
#include <string>
#include <vector>

#include "reports/results.hpp"
#include "reports/summary.hpp"

namespace haverify::reports {

// The page. Each row's run directory is its run_dir, or, when that is not a
// directory (the suite was moved, or run from another directory),
// <its last component> under info.out or one of `roots` (the shards of a
// merge); a run whose directory is gone is listed with its row and "run
// directory not found".
std::string report_html(const SummaryInfo& info, const std::vector<RunRow>& rows,
                        const std::vector<std::string>& roots = {});
// Written whole (write_file_atomic).
void write_report_html(const std::string& path, const SummaryInfo& info, const std::vector<RunRow>& rows,
                       const std::vector<std::string>& roots = {});

// `haverify report html DIR`: DIR/report.html from DIR's results.csv (its
// complete rows) and summary.json or suite.json (the suite's name). Returns
// the number of runs. Throws UsageError naming DIR when it is not a suite's
// output directory.
std::size_t rebuild_report_html(const std::string& dir);

}  // namespace haverify::reports
