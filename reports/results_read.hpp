#pragma once
// Reading results.csv back, for `haverify run --resume DIR`: which runs of an
// interrupted suite finished (a complete row), and the rows themselves, kept
// byte for byte (RunRow::recorded) and parsed for junit.xml, the summary, the
// plan sheet and the exit code.
#include <string>
#include <vector>

#include "reports/results.hpp"

namespace haverify::reports {

struct ResultsReadBack {
  std::vector<RunRow> rows;        // the complete rows, in file order, one per run_dir (the first)
  std::size_t incomplete = 0;      // rows dropped: a last line with no line end, a row that does not parse
  std::size_t duplicates = 0;      // rows dropped: a run_dir seen before
  std::vector<std::string> notes;  // "results.csv:LINE: dropped ...", one per dropped row
};

// The complete rows of a results.csv written by this version of haverify. A
// row is complete when its line ends with a line break, it has every column,
// its verdict is pass|fail|unknown|error and its numbers parse; any other
// row (a row torn by a crash) is dropped and counted. A missing file or one
// without a whole header line has no rows. Throws UsageError (naming the file)
// for a header that is not results_header().
ResultsReadBack read_results_rows(const std::string& path);

// A RunRow from results.csv fields in results_header() order: `recorded`
// holds the fields; the columns junit.xml, the summary, the plan sheet and
// the exit code use are parsed back. Throws std::invalid_argument naming the
// column that does not parse.
RunRow row_from_results_fields(const std::vector<std::string>& fields);

}  // namespace haverify::reports
