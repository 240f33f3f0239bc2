// junit.xml as CI systems read it: one testsuite per run with its timestamp
// and properties, failure / error / skipped testcases, attachments; valid per
// docs/junit.xsd (xmllint from libxml2-utils, installed by lab/install-deps.sh:
// missing is a failure).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "../test_files.hpp"
#include "reports/results.hpp"

using namespace haverify;
using namespace haverify::reports;
namespace fs = std::filesystem;

namespace {

RunRow row(const std::string& scenario, const std::string& verdict, const std::string& run_dir) {
  RunRow r;
  r.scenario = scenario;
  r.kind = "single-fault";
  r.stack = "pgrex";
  r.seed = 11;
  r.run_dir = run_dir;
  r.verdict = verdict;
  r.started = "2026-12-07T09:10:11.123Z";
  r.duration_s = 42.5;
  r.metrics.failover_s = 17.25;
  r.metrics.acked_total = 1010131;
  CheckerVerdict d;
  d.checker = "durability";
  d.status = verdict == "pass" ? CheckStatus::pass : CheckStatus::fail;
  r.checkers = {d};
  return r;
}

int xmllint(const fs::path& xml) {
  const std::string cmd =
      fmt::format("xmllint --noout --schema '{}/docs/junit.xsd' '{}' 2>&1", HAVERIFY_SOURCE_DIR, xml.string());
  return std::system(cmd.c_str());
}

}  // namespace

TEST_CASE("junit.xml: a pass, a fail, an unknown, an error and a skipped run, valid per docs/junit.xsd", "[unit]") {
  const fs::path dir = haverify::testing::tmpfile("junit");
  fs::create_directories(dir / "r1");
  std::ofstream(dir / "r1" / "run.json") << "{}\n";
  std::ofstream(dir / "r1" / "events.csv") << "time\n";
  RunRow pass = row("power-off-primary", "pass", (dir / "r1").string());
  RunRow fail = row("lan-cut <service> & \"primary\"", "fail", (dir / "r2").string());
  fail.reason = "lost_acked = 3 outside bound <= 0";
  RunRow unknown = row("kill-postmaster-primary", "unknown", (dir / "r3").string());
  unknown.reason = "durability unknown: ids not read";
  RunRow error = row("power-off-standby", "error", (dir / "r4").string());
  error.reason = "ssh \"refused\"";
  const SkippedRun skipped{"power-off-primary", "single-fault", "pgrex", 2,
                           "not run: --stop-after-fail, an earlier repetition failed"};
  const fs::path path = dir / "junit.xml";
  write_junit_xml(path.string(), "single-fault", {pass, fail, unknown, error}, {skipped});
  const std::string x = haverify::testing::slurp(path.string());
  INFO(x);
  CHECK(x.find("<testsuites name=\"haverify single-fault\" tests=\"5\" failures=\"2\" errors=\"1\"") !=
        std::string::npos);
  // One testsuite per run, with when it ran and its figures as properties.
  CHECK(x.find("<testsuite name=\"single-fault.pgrex.power-off-primary #1\" tests=\"1\" failures=\"0\" errors=\"0\" "
               "skipped=\"0\" time=\"42.500\" timestamp=\"2026-12-07T09:10:11\"") != std::string::npos);
  CHECK(x.find("<property name=\"failover_s\" value=\"17.250\"/>") != std::string::npos);
  CHECK(x.find("<property name=\"acked_total\" value=\"1010131\"/>") != std::string::npos);
  CHECK(x.find("<property name=\"checker.durability\" value=\"pass\"/>") != std::string::npos);
  CHECK(x.find("<property name=\"seed\" value=\"11\"/>") != std::string::npos);
  CHECK(x.find("<testcase classname=\"single-fault.pgrex\" name=\"power-off-primary #1\" time=\"42.500\">") !=
        std::string::npos);
  // An unknown verdict is no pass: a failure of its own type.
  CHECK(x.find("<failure message=\"durability unknown: ids not read\" type=\"unknown\"/>") != std::string::npos);
  CHECK(x.find("<failure message=\"lost_acked = 3 outside bound &lt;= 0\" type=\"fail\"/>") != std::string::npos);
  CHECK(x.find("name=\"lan-cut &lt;service&gt; &amp; &quot;primary&quot; #1\"") != std::string::npos);
  CHECK(x.find("<error message=\"ssh &quot;refused&quot;\" type=\"harness\"/>") != std::string::npos);
  CHECK(x.find("<skipped message=\"not run: --stop-after-fail, an earlier repetition failed\"/>") != std::string::npos);
  // The files that exist, as attachments (GitLab, Jenkins' attachments plugin).
  CHECK(x.find(fmt::format("[[ATTACHMENT|{}]]", (dir / "r1" / "run.json").string())) != std::string::npos);
  CHECK(x.find(fmt::format("[[ATTACHMENT|{}]]", (dir / "r1" / "events.csv").string())) != std::string::npos);
  CHECK(x.find("ATTACHMENT|" + (dir / "r2").string()) == std::string::npos);
  CHECK(xmllint(path) == 0);

  // The schema is no rubber stamp: a timestamp on a testcase (Jenkins' junit-10
  // has none there) and a count that is not a number fail it.
  std::string bad = x;
  bad.replace(bad.find("time=\"42.500\">"), 14, "time=\"42.500\" timestamp=\"2026-12-07T09:10:11\">");
  std::ofstream(dir / "bad1.xml") << bad;
  CHECK(xmllint(dir / "bad1.xml") != 0);
  bad = x;
  bad.replace(bad.find("tests=\"5\""), 9, "tests=\"five\"");
  std::ofstream(dir / "bad2.xml") << bad;
  CHECK(xmllint(dir / "bad2.xml") != 0);
}
