// summary.json and run.json: typed rows, checker details, kept rows read back
// from their run.json; the file validates against docs/summary.schema.json
// (python3-jsonschema, installed by lab/install-deps.sh: missing is a failure).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../test_files.hpp"
#include "reports/summary.hpp"

using namespace haverify;
using namespace haverify::reports;
namespace fs = std::filesystem;

namespace {

RunRow failing_row(const std::string& run_dir) {
  RunRow r;
  r.scenario = "power-off-primary";
  r.kind = "single-fault";
  r.stack = "pgpool";
  r.fault = "power_off";
  r.target = "primary->node1";
  r.seed = 7;
  r.repetition = 2;
  r.run_dir = run_dir;
  r.metrics.failover_s = 3.4567;
  r.metrics.lost_acked = 1010131;
  r.metrics.acked_total = 2000000;
  r.duration_s = 61.25;
  CheckerVerdict d;
  d.checker = "durability";
  d.status = CheckStatus::fail;
  d.reasons = {"1010131 acknowledged writes missing on the primary node2"};
  d.figures = {{"lost_acked", 1010131}, {"max_gap_s", 0.125}};
  CheckerVerdict w;  // a checker with windows on the run's timeline (report.html)
  w.checker = "single_writer";
  w.status = CheckStatus::fail;
  w.reasons = {"split brain: node1 and node2 writable at once"};
  w.windows = {{"split_brain", 12.5, 14.25, "node1, node2 writable"}};
  r.checkers = {d, w};
  r.verdict = "fail";
  r.reason = "lost_acked = 1010131 outside bound <= 0";
  return r;
}

void validate(const std::string& path) {
  const std::string schema = std::string(HAVERIFY_SOURCE_DIR) + "/docs/summary.schema.json";
  const std::string cmd = fmt::format(
      "python3 -c 'import json, sys, jsonschema; jsonschema.Draft7Validator(json.load(open(sys.argv[2])))"
      ".validate(json.load(open(sys.argv[1])))' '{}' '{}' 2>&1",
      path, schema);
  INFO(cmd);
  CHECK(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("summary.json: typed rows, checker details, kept rows from their run.json, valid per its schema", "[unit]") {
  const fs::path dir = haverify::testing::tmpfile("summary");
  fs::create_directories(dir / "r1");
  fs::create_directories(dir / "r2");
  // A fresh row; its run.json as the session writes it.
  const RunRow fresh = failing_row((dir / "r1").string());
  write_run_json((dir / "r1" / "run.json").string(), fresh);
  // The same run kept by `run --resume` (its fields as read back), and a kept
  // row whose run directory has no run.json.
  RunRow kept;
  kept.run_dir = fresh.run_dir;
  kept.verdict = fresh.verdict;
  kept.recorded = results_fields(fresh);
  RunRow bare = kept;
  bare.run_dir = (dir / "r2").string();
  bare.recorded = results_fields(fresh);
  const std::string path = (dir / "summary.json").string();
  write_summary_json(path, {"single-fault", "2026-12-07T09:00:00.000Z", dir.string()}, {fresh, kept, bare});

  const auto j = nlohmann::json::parse(haverify::testing::slurp(path));
  CHECK(j["haverify_summary"] == 1);
  CHECK(j["counts"]["runs"] == 3);
  CHECK(j["counts"]["fail"] == 3);
  CHECK(j["counts"]["pass"] == 0);
  const auto& row = j["runs"][0]["row"];
  CHECK(row["lost_acked"].is_number_integer());
  CHECK(row["lost_acked"] == 1010131);  // a count, never 1.01013e+06
  CHECK(row["failover_s"] == Approx(3.457));
  CHECK(row["checkpoint_s"].is_null());
  CHECK(row["repetition"] == 2);
  CHECK(row["checkers"] == "durability=fail single_writer=fail");
  const auto& c = j["runs"][0]["checkers"][0];
  CHECK_FALSE(c.contains("windows"));  // none: absent
  const auto& sw = j["runs"][0]["checkers"][1];
  CHECK(sw["windows"][0]["kind"] == "split_brain");
  CHECK(sw["windows"][0]["from_s"] == Approx(12.5));
  CHECK(sw["windows"][0]["to_s"] == Approx(14.25));
  CHECK(c["checker"] == "durability");
  CHECK(c["status"] == "fail");
  CHECK(c["figures"]["lost_acked"].is_number_integer());
  CHECK(c["figures"]["max_gap_s"] == Approx(0.125));
  CHECK(c["reasons"][0] == "1010131 acknowledged writes missing on the primary node2");
  // The kept row: its run.json (checkers included); the bare one: fields only.
  CHECK(j["runs"][1] == j["runs"][0]);
  CHECK(j["runs"][2]["checkers"].is_null());
  CHECK(j["runs"][2]["row"]["scenario"] == "power-off-primary");
  validate(path);

  // The schema rejects what it must: a count written as a float, a missing column.
  auto broken = j;
  broken["runs"][0]["row"]["acked_total"] = 2.5;
  std::ofstream((dir / "bad.json").string()) << broken.dump();
  const std::string schema = std::string(HAVERIFY_SOURCE_DIR) + "/docs/summary.schema.json";
  const std::string cmd = fmt::format(
      "python3 -c 'import json, sys, jsonschema; jsonschema.Draft7Validator(json.load(open(sys.argv[2])))"
      ".validate(json.load(open(sys.argv[1])))' '{}' '{}' >/dev/null 2>&1",
      (dir / "bad.json").string(), schema);
  CHECK(std::system(cmd.c_str()) != 0);
}

TEST_CASE("typed_row: counts are integers, measures numbers, empty fields null, odd values kept as text", "[unit]") {
  const auto r =
      typed_row({"acked_total", "failover_s", "dns_s", "stack", "lost_acked"}, {"12", "0.500", "", "pgrex", "x"});
  CHECK(r["acked_total"].is_number_integer());
  CHECK(r["failover_s"] == Approx(0.5));
  CHECK(r["dns_s"].is_null());
  CHECK(r["stack"] == "pgrex");
  CHECK(r["lost_acked"] == "x");
}
