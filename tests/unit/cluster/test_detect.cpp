// Log stamps (cluster/detect.hpp): the leading timestamp of a log line, with
// its zone when it names one, and the timed lines of a log after an instant.
#include <catch2/catch.hpp>

#include <ctime>

#include "haverify/cluster/detect.hpp"

using namespace haverify;

TEST_CASE("log stamps: PostgreSQL's UTC stamps are UTC whatever the local zone, syslog's are local", "[unit]") {
  const auto t = parse_log_time("2026-12-06 18:20:41.123 UTC [123] LOG:  redo starts at 0/3000028", 0);
  REQUIRE(t);
  CHECK(*t == 1796581241123000000LL);
  const auto plus9 = parse_log_time("2026-12-07 03:20:41.123 +09 [123] LOG:  x", 0);
  REQUIRE(plus9);
  CHECK(*plus9 == *t);
  const auto iso = parse_log_time("2026-12-06T18:20:41.123Z x", 0);
  REQUIRE(iso);
  CHECK(*iso == *t);
  // A syslog stamp has no zone and no year: local time, in the reference's year.
  std::tm tm{};
  tm.tm_year = 126;
  tm.tm_mon = 11;
  tm.tm_mday = 6;
  tm.tm_hour = 18;
  tm.tm_min = 20;
  tm.tm_sec = 41;
  tm.tm_isdst = -1;
  const auto sys = parse_log_time("Dec  6 18:20:41.5 node1 corosync[1]: x", *t);
  REQUIRE(sys);
  CHECK(*sys == static_cast<Nanos>(std::mktime(&tm)) * 1'000'000'000 + 500'000'000);
  CHECK_FALSE(parse_log_time("2026-13-06 18:20:41.123 UTC x", 0));
  CHECK_FALSE(parse_log_time("Dex  6 18:20:41 x", 0));
}

TEST_CASE("log stamps: the timed lines at or after an instant, in order", "[unit]") {
  const std::string text =
      "2026-12-06 18:20:40.999 UTC [1] LOG:  before\r\n"
      "2026-12-06 18:20:41.000 UTC [1] LOG:  at\r\n"
      "\tcontinuation\n"
      "garbage\n"
      "2026-12-06 18:20:42.500 UTC [1] LOG:  after\n";
  const auto since = parse_log_time("2026-12-06 18:20:41 UTC", 0);
  REQUIRE(since);
  const auto lines = timed_lines_since(text, *since);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].text == "2026-12-06 18:20:41.000 UTC [1] LOG:  at");  // without the CR
  CHECK(lines[0].wall_ns == *since);
  CHECK(lines[1].wall_ns == *since + 1'500'000'000);
  CHECK(grep_log_command("\"$log\"", "a'b", 7) == "grep -E -- 'a'\\''b' \"$log\" | tail -n 7");
}
