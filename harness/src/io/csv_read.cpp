#include "haverify/io/csv_read.hpp"

#include <algorithm>
#include <map>
#include <set>
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

using Trim = io::trim_chars<>;
using Quote = io::double_quote_escape<',', '"'>;

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

// The fields of one record line (its line ends removed), split, trimmed and
// unescaped by the library's line parser. The library's CSVReader is not
// used: it allocates a 48 MiB buffer for every file, which made reading a
// small sheet cost milliseconds (and the fuzzers 1-2 inputs a second).
std::vector<std::string> parse_record(std::string line, std::size_t columns, const std::vector<int>& order) {
  std::vector<char*> cells(columns, nullptr);
  io::detail::parse_line<Trim, Quote>(line.data(), cells.data(), order);
  return {cells.begin(), cells.end()};
}

void read_records(const std::string& path, const std::string& content, CsvTable& t) {
  std::vector<int> order(t.header.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::size_t start = content.find('\n');
  for (unsigned line = 2; start != std::string::npos && start + 1 < content.size(); ++line) {
    const std::size_t end = content.find('\n', start + 1);
    std::string text = content.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
    start = end;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    try {
      t.rows.push_back(parse_record(std::move(text), t.header.size(), order));
    } catch (const io::error::too_few_columns&) {
      throw CsvReadError(path, line, fmt::format("too few fields (the header has {} columns)", t.header.size()));
    } catch (const io::error::too_many_columns&) {
      throw CsvReadError(path, line,
                         fmt::format("too many fields (the header has {} columns; quote a field that holds a comma)",
                                     t.header.size()));
    } catch (const io::error::escaped_string_not_closed&) {
      throw CsvReadError(path, line, "a quoted field is not closed (a field may not span lines)");
    } catch (const io::error::base& e) {
      throw CsvReadError(path, line, e.what());
    }
    t.lines.push_back(line);
  }
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
  read_records(path, content, t);
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
