// `haverify report merge -o OUT DIR...` on the outputs of a real sharded
// suite: three shards (run --shard K/3) of a three-run suite on loopback (the
// throwaway PostgreSQL over the throwaway sshd, generic driver, no fault),
// one run failing a bound; the merge gives one results.csv, junit.xml,
// summary.json and report.html with every run once, in the suite's order, and refuses a shard
// given twice.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/errors.hpp"
#include "haverify/run/runner.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"
#include "loopback_inventory.hpp"
#include "reports/merge.hpp"
#include "reports/results_read.hpp"

namespace fs = std::filesystem;
using haverify::testing::Lab;
using haverify::testing::LocalPg;

TEST_CASE(
    "report merge: three shards of a suite give one results.csv, junit.xml, summary.json and report.html, each run "
    "once",
    "[pg][ssh]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  const fs::path dir = lab.dir.path / "suite";
  fs::create_directories(dir);
  const std::string inventory = (lab.dir.path / "inventory.yaml").string();
  haverify::testing::write_loopback_inventory(inventory, lab, pg);
  const std::string body = haverify::testing::kWritesScenarioBody;
  std::ofstream(dir / "a-writes.yaml") << "name: a-writes\n" << body << "  lost_acked: {max: 0}\n";
  std::ofstream(dir / "b-impossible.yaml") << "name: b-impossible\n" << body << "  acked_total: {min: 1000000000}\n";
  std::ofstream(dir / "c-writes.yaml") << "name: c-writes\n" << body << "  lost_acked: {max: 0}\n";

  std::vector<std::string> shards;
  for (int k = 1; k <= 3; ++k) {
    haverify::RunOptions o;
    o.inventory_path = inventory;
    o.scenario_paths = {dir.string()};
    o.out_dir = (lab.dir.path / fmt::format("shard{}", k)).string();
    o.ledger_path = (lab.dir.path / "ledger.json").string();
    o.seed = 500;
    o.shard_index = k;
    o.shard_count = 3;
    const int rc = haverify::run_suite(o);
    INFO("shard " << k << "; sshd log:\n" << haverify::testing::slurp(lab.log));
    CHECK((rc == haverify::kExitPass || rc == haverify::kExitVerdictFailed));
    shards.push_back(o.out_dir);
    CHECK(haverify::reports::read_results_rows(o.out_dir + "/results.csv").rows.size() == 1);
  }

  const std::string out = (lab.dir.path / "merged").string();
  const auto m = haverify::reports::merge_suite_dirs({shards[2], shards[0], shards[1]}, out);
  CHECK(m.rows == 3);
  CHECK(m.pass == 2);
  CHECK(m.fail == 1);
  const auto rows = haverify::reports::read_results_rows(out + "/results.csv").rows;
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].scenario == "a-writes");  // the suite's order, whatever the shards' order
  CHECK(rows[1].scenario == "b-impossible");
  CHECK(rows[1].verdict == "fail");
  CHECK(rows[2].scenario == "c-writes");
  const std::string junit = haverify::testing::slurp(out + "/junit.xml");
  CHECK(junit.find("tests=\"3\" failures=\"1\" errors=\"0\"") != std::string::npos);
  for (const char* s : {"a-writes #1", "b-impossible #1", "c-writes #1"}) {
    const std::string name = fmt::format("name=\"{}\"", s);
    const auto first = junit.find(name);
    CHECK(first != std::string::npos);
    CHECK(junit.find(name, first + 1) == std::string::npos);  // once
  }
  const auto summary = nlohmann::json::parse(haverify::testing::slurp(out + "/summary.json"));
  CHECK(summary["suite"] == nlohmann::json::parse(haverify::testing::slurp(shards[0] + "/summary.json"))["suite"]);
  CHECK(summary["counts"]["runs"] == 3);
  CHECK(summary["counts"]["fail"] == 1);
  REQUIRE(summary["runs"].size() == 3);
  for (const auto& run : summary["runs"]) CHECK(run["checkers"].is_array());  // from each run's run.json
  CHECK(summary["runs"][1]["row"]["scenario"] == "b-impossible");

  // One report.html: every run once, each drawn from its own run directory (found through its shard).
  const std::string html = haverify::testing::slurp(out + "/report.html");
  for (const auto& row : rows) {
    const std::string id = fmt::format("id=\"run-{}\"", fs::path(row.run_dir).filename().string());
    const auto first = html.find(id);
    CHECK(first != std::string::npos);
    CHECK(html.find(id, first + 1) == std::string::npos);
  }
  CHECK(html.find("run directory not found") == std::string::npos);
  CHECK(html.find("<svg class=\"timeline\"") != std::string::npos);
  CHECK(html.find(R"(<span class="v-fail" data-count="fail">1 fail</span>)") != std::string::npos);

  // A shard given twice is refused, naming the run it shares.
  CHECK_THROWS_AS(haverify::reports::merge_suite_dirs({shards[0], shards[0]}, out + "-twice"), haverify::UsageError);
}
