#include "haverify/io/csv_read.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "haverify/core/files.hpp"
#include "haverify/io/csv.hpp"

// fast-cpp-csv-parser is a third-party header: keep -Werror for our code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-truncation"
#include <libfccp/csv.h>
#pragma GCC diagnostic pop

namespace haverify::reports {

CsvReadError::CsvReadError(std::string file, unsigned line, const std::string& message)
    : UsageError(line == 0 ? fmt::format("{}: {}", file, message) : fmt::format("{}:{}: {}", file, line, message)),
      file_(std::move(file)),
      line_(line) {}

int CsvTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

namespace {

using Reader = io::CSVReader<kCsvMaxColumns, io::trim_chars<>, io::double_quote_escape<',', '"'>>;
using Names = std::array<std::string, kCsvMaxColumns>;
using Cells = std::array<std::string, kCsvMaxColumns>;

// The header line, split on commas (haverify's column names are plain words).
std::vector<std::string> read_header_line(const std::string& path, const std::string& content) {
  std::vector<std::string> names;
  std::string text = content.substr(0, content.find('\n'));
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (content.empty() || text.empty()) throw CsvReadError(path, 1, "the file is empty (expected a header line)");
  if (text.find(',') == std::string::npos && text.find(';') != std::string::npos)
    throw CsvReadError(path, 1,
                       "the header is separated by ';', not ','. A spreadsheet saved it with the separator of its "
                       "locale: save as \"CSV UTF-8 (comma delimited)\", or set the list separator to ','");
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    names.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& n = names[i];
    if (n.empty() || n.find_first_of("\" \t") != std::string::npos)
      throw CsvReadError(path, 1, fmt::format("header column {}: '{}' is not a column name", i + 1, n));
    if (!seen.insert(n).second) throw CsvReadError(path, 1, fmt::format("header: duplicate column '{}'", n));
  }
  if (names.size() > kCsvMaxColumns)
    throw CsvReadError(path, 1, fmt::format("header: {} columns, at most {} are read", names.size(), kCsvMaxColumns));
  return names;
}

// The library takes a fixed number of column names: the file's own, then
// unique names absent from the file (ignore_missing_column leaves them empty).
template <std::size_t... I>
void bind_header(Reader& in, const Names& names, std::index_sequence<I...>) {
  in.read_header(io::ignore_missing_column, names[I].c_str()...);
}
template <std::size_t... I>
bool read_cells(Reader& in, Cells& cells, std::index_sequence<I...>) {
  return in.read_row(cells[I]...);
}

}  // namespace

CsvTable read_csv_table(const std::string& path) {
  CsvTable t;
  t.path = path;
  std::string content;
  try {
    content = strip_utf8_bom(read_input_file(path));
  } catch (const InputFileError& e) {
    throw CsvReadError(path, 0, e.reason());
  }
  if (const auto nul = content.find('\0'); nul != std::string::npos) {
    const auto line = std::count(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(nul), '\n') + 1;
    throw CsvReadError(path, static_cast<unsigned>(line), "a NUL byte: this is not a text file");
  }
  t.header = read_header_line(path, content);
  Names names;
  for (std::size_t i = 0; i < kCsvMaxColumns; ++i)
    names[i] = i < t.header.size() ? t.header[i] : fmt::format("\x01unused-{}", i);
  try {
    std::istringstream stream(content);
    Reader in(path, stream);
    bind_header(in, names, std::make_index_sequence<kCsvMaxColumns>{});
    Cells cells;
    while (read_cells(in, cells, std::make_index_sequence<kCsvMaxColumns>{})) {
      t.rows.emplace_back(cells.begin(), cells.begin() + static_cast<std::ptrdiff_t>(t.header.size()));
      t.lines.push_back(in.get_file_line());
    }
  } catch (const io::error::too_few_columns& e) {
    throw CsvReadError(path, static_cast<unsigned>(e.file_line),
                       fmt::format("too few fields (the header has {} columns)", t.header.size()));
  } catch (const io::error::too_many_columns& e) {
    throw CsvReadError(
        path, static_cast<unsigned>(e.file_line),
        fmt::format("too many fields (the header has {} columns; quote a field that holds a comma)", t.header.size()));
  } catch (const io::error::escaped_string_not_closed& e) {
    throw CsvReadError(path, static_cast<unsigned>(e.file_line),
                       "a quoted field is not closed (a field may not span lines)");
  } catch (const io::error::base& e) {
    throw CsvReadError(path, 0, e.what());
  }
  return t;
}

std::size_t merge_csv_files(const std::vector<std::string>& inputs, const std::string& out) {
  std::vector<CsvTable> tables;
  for (const auto& in : inputs) tables.push_back(read_csv_table(in));
  if (tables.empty()) throw CsvReadError(out, 0, "nothing to merge (give one or more CSV files)");
  const CsvTable& first = tables.front();
  std::map<std::string, std::string> ids;  // id -> file:line where it was first seen
  const int id_col = first.column("id");
  std::size_t n = 0;
  for (const auto& t : tables) {
    if (t.header != first.header) {
      std::size_t i = 0;
      while (i < t.header.size() && i < first.header.size() && t.header[i] == first.header[i]) ++i;
      const std::string theirs = i < t.header.size() ? "'" + t.header[i] + "'" : "nothing";
      const std::string ours = i < first.header.size() ? "'" + first.header[i] + "'" : "nothing";
      throw CsvReadError(t.path, 1,
                         fmt::format("header differs from {}'s: column {} is {} here, {} there (merge files of one "
                                     "kind: results.csv or plan.csv, from the same haverify version)",
                                     first.path, i + 1, theirs, ours));
    }
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      if (id_col < 0) continue;
      const std::string& id = t.rows[r][static_cast<std::size_t>(id_col)];
      const auto [it, fresh] = ids.emplace(id, fmt::format("{}:{}", t.path, t.lines[r]));
      if (!fresh)
        throw CsvReadError(t.path, t.lines[r],
                           fmt::format("column id: duplicate id '{}' (first at {}); shards of one plan hold disjoint "
                                       "rows",
                                       id, it->second));
    }
  }
  CsvWriter w(out, first.header);
  for (const auto& t : tables)
    for (const auto& row : t.rows) {
      w.row(row);
      ++n;
    }
  w.flush();
  return n;
}

}  // namespace haverify::reports
