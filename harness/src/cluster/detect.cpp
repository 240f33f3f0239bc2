#include "haverify/cluster/detect.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "haverify/core/shell.hpp"

namespace haverify {

std::optional<Nanos> parse_log_time(const std::string& line, Nanos reference_wall) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0, consumed = 0;
  const char* p = line.c_str();
  if (std::sscanf(p, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &year, &mon, &day, &hh, &mm, &ss, &consumed) == 6) {
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
    // A December line read in January belongs to the previous year.
    if (m > rt.tm_mon + 1) tm.tm_year -= 1;
  }
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  Nanos frac = 0;
  const char* q = p + consumed;
  if (*q == '.' || *q == ',') {
    Nanos scale = 100'000'000;
    for (++q; std::isdigit(static_cast<unsigned char>(*q)) && scale > 0; ++q, scale /= 10) frac += (*q - '0') * scale;
  }
  return static_cast<Nanos>(t) * 1'000'000'000 + frac;
}

std::vector<DetectEvent> detect_from_logs(const Inventory& inv, TransportPool& pool, const std::string& log,
                                          const std::string& pattern, Nanos since_wall,
                                          std::chrono::milliseconds deadline) {
  std::vector<DetectEvent> out;
  if (log.empty() || pattern.empty()) return out;
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string cmd = fmt::format("grep -E -- {} {} | tail -n 500", sh_quote(pattern), sh_quote(log));
  for (const auto& n : inv.nodes) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ExecResult r = pool.run("ssh", n.name, cmd, left);
    if (!r.ok()) continue;  // powered off, or nothing matched
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto t = parse_log_time(line, since_wall);
      if (t && *t >= since_wall) out.push_back(DetectEvent{*t, n.name, line});
    }
  }
  std::sort(out.begin(), out.end(), [](const DetectEvent& a, const DetectEvent& b) { return a.wall_ns < b.wall_ns; });
  return out;
}

}  // namespace haverify
