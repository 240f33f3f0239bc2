// The bookkeeping of `haverify run --resume DIR` (issue 14, item 8): which
// rows of an interrupted suite's results.csv are complete, the suite
// manifest, and the refusals (missing manifest, unhealed faults) with exit 2.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "../test_files.hpp"
#include "faults/ledger.hpp"
#include "haverify/core/atomic_file.hpp"
#include "haverify/io/csv.hpp"
#include "haverify/run/runner.hpp"
#include "haverify/run/suite_manifest.hpp"
#include "reports/comparison.hpp"
#include "reports/results_read.hpp"

using namespace haverify;
using namespace haverify::reports;
using haverify::testing::slurp;
using haverify::testing::tmpfile;
namespace fs = std::filesystem;

namespace {

RunRow sample_row(const std::string& dir, const std::string& verdict) {
  RunRow r;
  r.scenario = "power-off-primary";
  r.kind = "single-fault";
  r.stack = "pgpool";
  r.seed = 7;
  r.run_dir = dir;
  r.metrics.failover_s = 3.5;
  r.metrics.redo_s = 0.25;
  r.metrics.detect_s = 1.125;
  r.metrics.promote_s = 2.5;
  r.metrics.lost_acked = 0;
  r.metrics.acked_total = 1234;
  r.verdict = verdict;
  r.reason = verdict == "pass" ? "all checks passed" : "lost_acked = 2, want <= 0, \"quoted\"";
  r.duration_s = 41.25;
  return r;
}

// Captures std::cerr for the scope.
struct CaptureCerr {
  std::stringstream text;
  std::streambuf* old = std::cerr.rdbuf(text.rdbuf());
  ~CaptureCerr() { std::cerr.rdbuf(old); }
};

// Restores the working directory (a resume enters the suite's).
struct KeepCwd {
  fs::path here = fs::current_path();
  ~KeepCwd() { fs::current_path(here); }
};

}  // namespace

TEST_CASE("parse_csv_line reads what csv_line writes", "[unit]") {
  const std::vector<std::string> fields = {"a", "", "b,c", "say \"hi\"", "end"};
  std::string line = csv_line(fields);
  line.resize(line.size() - 2);  // the CRLF
  CHECK(parse_csv_line(line) == fields);
  CHECK(parse_csv_line("") == std::vector<std::string>{""});
  CHECK(parse_csv_line("x,") == std::vector<std::string>{"x", ""});
  CHECK_FALSE(parse_csv_line("a,\"unclosed"));
  CHECK_FALSE(parse_csv_line("\"a\"b,c"));
}

TEST_CASE("results.csv read back: complete rows are kept byte for byte, a torn last row is dropped", "[unit]") {
  const std::string path = tmpfile("resume-torn.csv");
  write_results_csv(path, {sample_row("runs/s/01-a-r1", "pass"), sample_row("runs/s/02-b-r1", "fail")});
  const std::string whole = slurp(path);
  SECTION("the file as written") {
    const auto back = read_results_rows(path);
    REQUIRE(back.rows.size() == 2);
    CHECK(back.incomplete == 0);
    CHECK(back.duplicates == 0);
    CHECK(back.rows[1].verdict == "fail");
    CHECK(back.rows[1].reason == "lost_acked = 2, want <= 0, \"quoted\"");
    CHECK(back.rows[0].metrics.failover_s == Approx(3.5));
    CHECK(back.rows[0].metrics.redo_s == Approx(0.25));
    CHECK_FALSE(back.rows[0].metrics.checkpoint_s);
    // The phases too: a resumed timing suite and report.html group kept rows like fresh ones.
    const auto kept = to_compare_run(back.rows[0]);
    CHECK(kept.detect_s == Approx(1.125));
    CHECK(kept.promote_s == Approx(2.5));
    CHECK(kept.failover_s == Approx(3.5));
    CHECK(back.rows[0].metrics.acked_total == 1234);
    CHECK(back.rows[0].duration_s == Approx(41.25));
    CHECK(back.rows[0].seed == 7);
    // Written again from the rows read back: the same bytes.
    const std::string again = tmpfile("resume-again.csv");
    write_results_csv(again, back.rows);
    CHECK(slurp(again) == whole);
  }
  SECTION("a third row cut anywhere by a crash") {
    std::string third = csv_line(results_fields(sample_row("runs/s/03-c-r1", "fail")));
    for (std::size_t cut :
         {std::size_t{1}, third.size() / 3, third.find('"') + 3, third.size() - 2, third.size() - 1}) {
      INFO("cut at " << cut << " of " << third.size());
      std::ofstream(path, std::ios::binary | std::ios::trunc) << whole << third.substr(0, cut);
      const auto back = read_results_rows(path);
      CHECK(back.rows.size() == 2);
      CHECK(back.incomplete == 1);
      REQUIRE(back.notes.size() == 1);
      CHECK(back.notes[0].find(":4: dropped a row") != std::string::npos);
    }
  }
  SECTION("only part of the header: no run finished") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, 20);
    const auto back = read_results_rows(path);
    CHECK(back.rows.empty());
    CHECK(back.incomplete == 0);
  }
}

TEST_CASE("results.csv read back: a row seen twice is kept once, the first", "[unit]") {
  const std::string path = tmpfile("resume-dup.csv");
  auto first = sample_row("runs/s/01-a-r1", "pass");
  auto second = sample_row("runs/s/01-a-r1", "fail");
  write_results_csv(path, {first, sample_row("runs/s/02-b-r1", "pass"), second});
  const auto back = read_results_rows(path);
  REQUIRE(back.rows.size() == 2);
  CHECK(back.duplicates == 1);
  CHECK(back.rows[0].verdict == "pass");
  CHECK(back.notes.at(0).find("dropped a second row for runs/s/01-a-r1") != std::string::npos);
}

TEST_CASE("results.csv read back: rows that do not parse are dropped, another header is an error", "[unit]") {
  const std::string path = tmpfile("resume-bad.csv");
  auto fields = results_fields(sample_row("runs/s/01-a-r1", "pass"));
  std::string text = csv_line(results_header());
  fields[static_cast<std::size_t>(std::find(results_header().begin(), results_header().end(), "verdict") -
                                  results_header().begin())] = "pa";
  text += csv_line(fields);
  text += csv_line({"too", "few"});
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  auto back = read_results_rows(path);
  CHECK(back.rows.empty());
  CHECK(back.incomplete == 2);
  CHECK(read_results_rows(tmpfile("no-such-results.csv")).rows.empty());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "id,kind,verdict\r\n";
  CHECK_THROWS_AS(read_results_rows(path), UsageError);
  CHECK_THROWS_WITH(read_results_rows(path), Catch::Contains(path + ":1: not a results.csv header"));
}

TEST_CASE("write_file_atomic replaces a file whole and leaves no temporary file", "[unit]") {
  const std::string path = tmpfile("atomic.txt");
  write_file_atomic(path, "one\n");
  write_file_atomic(path, "two\n");
  CHECK(slurp(path) == "two\n");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK_THROWS_WITH(write_file_atomic(tmpfile("no-such-dir") + "/x/y", "z"), Catch::Contains("cannot write"));
}

TEST_CASE("the suite manifest reads back what was written, its items are compared", "[unit]") {
  const fs::path dir = tmpfile("manifest-suite");
  fs::create_directories(dir);
  SuiteManifest m;
  m.cwd = "/somewhere";
  m.suite = "single-fault";
  m.out = dir.string();
  m.seed = 42;
  m.options.inventory_path = "inv.yaml";
  m.options.scenario_paths = {"a.yaml", "b.yaml"};
  m.options.ledger_path = "/tmp/ledger.json";
  m.options.repeat = 3;
  m.options.duration = std::chrono::milliseconds(7200000);
  m.options.shard_index = 2;
  m.options.shard_count = 3;
  m.items = {SuiteItem{0, 1, 1, "a", m.out + "/01-a-r1"}, SuiteItem{1, 2, 4, "b", m.out + "/02-b-r2"}};
  write_suite_manifest(m);
  const auto r = read_suite_manifest(dir.string());
  CHECK(r.cwd == m.cwd);
  CHECK(r.seed == 42);
  CHECK(r.options.seed == 42);
  CHECK(r.options.scenario_paths == m.options.scenario_paths);
  CHECK(r.options.repeat == 3);
  CHECK(r.options.duration == m.options.duration);
  CHECK(r.options.shard_count == 3);
  CHECK(items_mismatch(m.items, r.items).empty());
  auto changed = r.items;
  changed[1].name = "c";
  CHECK(items_mismatch(m.items, changed).find("run 2 was b #2") != std::string::npos);
  changed.pop_back();
  CHECK(items_mismatch(m.items, changed).find("run 2 is gone") != std::string::npos);

  std::ofstream(dir / kSuiteManifestFile) << "{\"haverify_suite\": 1, \"cwd\": 5}";
  CHECK_THROWS_WITH(read_suite_manifest(dir.string()), Catch::Contains("suite.json: not a suite manifest"));
}

TEST_CASE("run --resume: a missing manifest is exit 2 with a clear message", "[unit]") {
  KeepCwd keep;
  const fs::path dir = tmpfile("resume-nomanifest");
  fs::create_directories(dir);
  RunOptions o;
  o.resume_dir = dir.string();
  CaptureCerr err;
  CHECK(run_suite(o) == kExitUsage);
  CHECK(err.text.str().find((dir / "suite.json").string() + ": missing: nothing to resume") != std::string::npos);
  o.resume_dir = (dir / "nope").string();
  CHECK(run_suite(o) == kExitUsage);
  CHECK(err.text.str().find("nope: not a directory") != std::string::npos);
}

TEST_CASE("run --resume: faults left in the ledger are exit 2, asking for `haverify heal`", "[unit]") {
  KeepCwd keep;
  const fs::path dir = fs::absolute(tmpfile("resume-ledger"));
  fs::create_directories(dir / "suite");
  const std::string ledger = (dir / "ledger.json").string();
  faults::FaultLedger(ledger).add(
      faults::LedgerEntry{"f1", "run", "lan_cut", "node2", "cut", "local", {}, "true", "", "", "2026-01-01T00:00:00Z"});
  SuiteManifest m;
  m.cwd = dir.string();
  m.suite = "single-fault";
  m.out = "suite";  // relative to cwd
  m.options.ledger_path = ledger;
  fs::current_path(dir);
  write_suite_manifest(m);
  fs::current_path("/");
  RunOptions o;
  o.resume_dir = (dir / "suite").string();
  CaptureCerr err;
  CHECK(run_suite(o) == kExitUsage);
  CHECK(err.text.str().find("still lists 1 unhealed fault(s)") != std::string::npos);
  CHECK(err.text.str().find("`haverify heal --ledger " + ledger + "`, then resume") != std::string::npos);
  fs::remove(ledger);
}
