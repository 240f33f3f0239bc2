#include "haverify/io/csv.hpp"

#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace haverify::reports {

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_field(fields[i]);
  }
  out += "\r\n";
  return out;
}

std::optional<std::vector<std::string>> parse_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  std::size_t i = 0;
  while (i <= line.size()) {
    std::string& f = fields.back();
    if (i < line.size() && line[i] == '"') {  // a quoted field: "" is a quote
      for (++i;; ++i) {
        if (i >= line.size()) return std::nullopt;
        if (line[i] == '"' && (i + 1 >= line.size() || line[i + 1] != '"')) break;
        if (line[i] == '"') ++i;
        f += line[i];
      }
      ++i;  // past the closing quote: the record ends or a comma follows
      if (i < line.size() && line[i] != ',') return std::nullopt;
    } else {
      const auto comma = line.find(',', i);
      f = line.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      i = comma == std::string::npos ? line.size() : comma;
    }
    if (i >= line.size()) break;
    fields.emplace_back();
    ++i;  // past the comma
  }
  return fields;
}

CsvWriter::CsvWriter(const std::string& path, std::vector<std::string> header)
    : path_(path), width_(header.size()), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) throw std::runtime_error(fmt::format("cannot write {}: check the directory exists and is writable", path));
  out_ << csv_line(header);
}

void CsvWriter::row(const std::vector<std::string>& fields) {
  if (fields.size() != width_)
    throw std::logic_error(fmt::format("{}: row has {} fields, header has {}", path_, fields.size(), width_));
  out_ << csv_line(fields);
  if (!out_) throw std::runtime_error(fmt::format("write to {} failed (disk full?)", path_));
}

void CsvWriter::flush() {
  out_.flush();
}

}  // namespace haverify::reports
