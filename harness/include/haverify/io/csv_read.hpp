#pragma once
// Reading CSV files written by haverify (results.csv, plan.csv) with the
// fast-cpp-csv-parser library: RFC 4180 double-quote escapes, CRLF or LF line
// ends, one record per line (a field may not hold a line break). The header
// names the columns; every row must have exactly as many fields.
#include <stdexcept>
#include <string>
#include <vector>

#include "haverify/core/errors.hpp"

namespace haverify::reports {

// "file:line: message"; line 0 when the file could not be read at all.
class CsvReadError : public UsageError {
 public:
  CsvReadError(std::string file, unsigned line, const std::string& message);
  const std::string& file() const { return file_; }
  unsigned line() const { return line_; }

 private:
  std::string file_;
  unsigned line_;
};

struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each header.size() fields
  std::vector<unsigned> lines;                 // the file line of each row
  // Index of a column, or -1.
  int column(const std::string& name) const;
};

// At most this many columns.
inline constexpr std::size_t kCsvMaxColumns = 64;

// Throws CsvReadError: missing file, empty file, a bad or duplicated header
// name, a row with a wrong number of fields, an unclosed quote.
CsvTable read_csv_table(const std::string& path);

// `haverify report merge`: the rows of every input, in order, under their
// common header, written to `out`. Throws CsvReadError for an unreadable
// input, a header that differs from the first file's, or (when the header has
// an `id` column, as plan.csv does) an id seen before. Returns the row count.
std::size_t merge_csv_files(const std::vector<std::string>& inputs, const std::string& out);

}  // namespace haverify::reports
