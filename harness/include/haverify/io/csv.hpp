#pragma once
// RFC 4180 CSV writing: fields containing a comma, a double quote, CR or LF are
// quoted, and quotes are doubled. Lines end with CRLF as the RFC says.
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace haverify::reports {

std::string csv_field(const std::string& value);
std::string csv_line(const std::vector<std::string>& fields);  // with trailing "\r\n"
// The fields of one record as csv_line writes it (without its line end):
// nullopt for an unclosed quote or text after a closing quote.
std::optional<std::vector<std::string>> parse_csv_line(const std::string& line);

class CsvWriter {
 public:
  // Opens (truncates) `path` and writes the header; throws std::runtime_error on I/O failure.
  CsvWriter(const std::string& path, std::vector<std::string> header);
  void row(const std::vector<std::string>& fields);  // size must equal the header's
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::size_t width_;
  std::ofstream out_;
};

}  // namespace haverify::reports
