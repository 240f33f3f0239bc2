#include "haverify/cluster/detect.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "haverify/core/shell.hpp"

namespace haverify {

namespace {

// The UTC offset (seconds east) a zone after a log timestamp names: " UTC",
// " GMT", "Z", " +09", "+09:00", " -0530" (PostgreSQL's %m prints the zone's
// abbreviation, or its offset when the zone has none). nullopt for none, or
// an abbreviation it cannot resolve (CET, JST: the line is then local time).
std::optional<long> zone_offset_s(const char* q) {
  if (*q == 'Z' && !std::isalnum(static_cast<unsigned char>(q[1]))) return 0;
  if (*q == ' ') ++q;
  for (const char* utc : {"UTC", "GMT"})
    if (std::strncmp(q, utc, 3) == 0 && !std::isalpha(static_cast<unsigned char>(q[3]))) return 0;
  if (*q != '+' && *q != '-') return std::nullopt;
  const long sign = *q == '-' ? -1 : 1;
  int hh = 0, mm = 0, n = 0;
  if (std::sscanf(q + 1, "%2d%n", &hh, &n) != 1 || n != 2) return std::nullopt;
  const char* m = q + 1 + n;
  if (*m == ':') ++m;
  if (std::isdigit(static_cast<unsigned char>(m[0])) && std::isdigit(static_cast<unsigned char>(m[1])))
    mm = (m[0] - '0') * 10 + (m[1] - '0');
  return sign * (hh * 3600L + mm * 60L);
}

}  // namespace

std::optional<Nanos> parse_log_time(const std::string& line, Nanos reference_wall) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0, consumed = 0;
  const char* p = line.c_str();
  const bool iso = std::sscanf(p, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &year, &mon, &day, &hh, &mm, &ss, &consumed) == 6;
  if (iso) {
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
  } else {
    char mname[4] = {};
    if (std::sscanf(p, "%3s %d %2d:%2d:%2d%n", mname, &day, &hh, &mm, &ss, &consumed) != 5) return std::nullopt;
    int m = -1;
    for (int i = 0; i < 12; ++i)
      if (std::string_view(mname) == kMonths[i]) m = i;
    if (m < 0) return std::nullopt;
    const std::time_t ref = static_cast<std::time_t>(reference_wall / 1'000'000'000);
    std::tm rt{};
    localtime_r(&ref, &rt);
    tm.tm_year = rt.tm_year;
    tm.tm_mon = m;
    mon = m + 1;
    // A December line read in January belongs to the previous year.
    if (m > rt.tm_mon + 1) tm.tm_year -= 1;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  tm.tm_isdst = -1;
  Nanos frac = 0;
  const char* q = p + consumed;
  if (*q == '.' || *q == ',') {
    Nanos scale = 100'000'000;
    for (++q; std::isdigit(static_cast<unsigned char>(*q)); ++q, scale /= 10) frac += (*q - '0') * scale;
  }
  const std::optional<long> zone = iso ? zone_offset_s(q) : std::nullopt;
  const std::time_t t = zone ? timegm(&tm) - *zone : std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<Nanos>(t) * 1'000'000'000 + frac;
}

std::vector<LogLine> timed_lines_since(const std::string& text, Nanos since_wall) {
  std::vector<LogLine> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto t = parse_log_time(line, since_wall);
    if (t && *t >= since_wall) out.push_back(LogLine{*t, std::move(line)});
  }
  return out;
}

std::string grep_log_command(const std::string& log_word, const std::string& pattern, int max_lines) {
  return fmt::format("grep -E -- {} {} | tail -n {}", sh_quote(pattern), log_word, max_lines);
}

std::vector<DetectEvent> detect_from_logs(const Inventory& inv, TransportPool& pool, const std::string& log,
                                          const std::string& pattern, Nanos since_wall,
                                          std::chrono::milliseconds deadline) {
  std::vector<DetectEvent> out;
  if (log.empty() || pattern.empty()) return out;
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string cmd = grep_log_command(sh_quote(log), pattern, 500);
  // The PostgreSQL nodes, then the other hosts (the pgpool host: its log says when it noticed).
  std::vector<const NodeSpec*> hosts;
  for (const auto& n : inv.nodes) hosts.push_back(&n);
  for (const auto& n : inv.aux_nodes) hosts.push_back(&n);
  for (const NodeSpec* n : hosts) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ExecResult r = pool.run("ssh", n->name, cmd, left);
    if (!r.ok()) continue;  // powered off, or nothing matched
    for (auto& l : timed_lines_since(r.out, since_wall))
      out.push_back(DetectEvent{l.wall_ns, n->name, std::move(l.text)});
  }
  std::sort(out.begin(), out.end(), [](const DetectEvent& a, const DetectEvent& b) { return a.wall_ns < b.wall_ns; });
  return out;
}

}  // namespace haverify
