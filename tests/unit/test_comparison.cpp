// The comparison of stacks: statistics, bootstrap, ratio, comparison.csv,
// reading results.csv back (--from) and the CLI's refusals before a lab.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

// fast-cpp-csv-parser is a third-party header: keep -Werror for our code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-truncation"
#include <libfccp/csv.h>
#pragma GCC diagnostic pop

#include "haverify/run/compare.hpp"
#include "reports/comparison.hpp"
#include "reports/timing.hpp"

using namespace haverify;
using namespace haverify::reports;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("haverify-unit-cmp-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

CompareRun run_of(const std::string& stack, std::optional<double> failover, const std::string& verdict = "pass") {
  CompareRun r;
  r.scenario = "power-off-primary";
  r.stack = stack;
  r.profile = "default";
  r.fault = "power_off";
  r.verdict = verdict;
  r.failover_s = failover;
  return r;
}

RunGroup group_of(const std::string& stack, const std::vector<double>& failovers) {
  RunGroup g{"power-off-primary", stack, "default", "", {}};
  for (double f : failovers) g.runs.push_back(run_of(stack, f));
  return g;
}

}  // namespace

TEST_CASE("comparison statistics: min, median, p95, max", "[unit]") {
  SECTION("odd n") {
    auto s = summarize({3.0, 1.0, 2.0});
    REQUIRE(s);
    CHECK(s->n == 3);
    CHECK(s->min == 1.0);
    CHECK(s->median == 2.0);
    CHECK(s->max == 3.0);
    CHECK(s->p95 == Approx(2.9));  // h = 2 * 0.95 = 1.9: 2 + 0.9 * (3 - 2)
  }
  SECTION("even n: the median is the mean of the middle two") {
    auto s = summarize({4.0, 1.0, 3.0, 2.0});
    REQUIRE(s);
    CHECK(s->median == Approx(2.5));
    CHECK(median_of({10.0, 2.0}) == Approx(6.0));
  }
  SECTION("n = 1: every statistic is the value") {
    auto s = summarize({4.25});
    REQUIRE(s);
    CHECK(s->n == 1);
    CHECK(s->min == 4.25);
    CHECK(s->median == 4.25);
    CHECK(s->p95 == 4.25);
    CHECK(s->max == 4.25);
  }
  SECTION("p95 by linear interpolation (type 7)") {
    std::vector<double> v;
    for (int i = 20; i >= 1; --i) v.push_back(i);
    auto s = summarize(v);
    REQUIRE(s);
    CHECK(s->p95 == Approx(19.05));  // h = 19 * 0.95 = 18.05: x[18] = 19, x[19] = 20
    CHECK(s->median == Approx(10.5));
    std::sort(v.begin(), v.end());
    CHECK(quantile_sorted(v, 0) == 1);
    CHECK(quantile_sorted(v, 1) == 20);
  }
  SECTION("no values: nothing") {
    CHECK_FALSE(summarize({}));
    CHECK_THROWS_AS(quantile_sorted({}, 0.5), std::logic_error);
  }
}

TEST_CASE("bootstrap CI of the ratio of medians is reproducible and sensible", "[unit]") {
  const std::vector<double> base = {3.9, 4.1, 4.0, 3.8, 4.3, 4.2, 3.95};
  const std::vector<double> other = {4.7, 4.6, 4.9, 4.5, 5.0, 4.65, 4.8};
  const double point = median_of(other) / median_of(base);

  auto a = bootstrap_ratio_ci(base, other, 10000, 42);
  auto b = bootstrap_ratio_ci(base, other, 10000, 42);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->low == b->low);  // bit for bit with the same seed
  CHECK(a->high == b->high);
  CHECK(a->low <= point);
  CHECK(point <= a->high);
  CHECK(a->low > 1.0);  // clearly slower on this data
  CHECK(a->high < 1.4);

  auto c = bootstrap_ratio_ci(base, other, 10000, 43);
  REQUIRE(c);
  CHECK(c->low == Approx(a->low).epsilon(0.05));  // another seed: about the same interval

  CHECK_FALSE(bootstrap_ratio_ci({4.0}, other, 1000, 1));  // fewer than 2 runs: undefined
  CHECK_FALSE(bootstrap_ratio_ci(base, {4.0}, 1000, 1));
  CHECK_FALSE(bootstrap_ratio_ci({0.0, 0.0}, other, 1000, 1));  // a zero median: undefined
}

TEST_CASE("compare_groups: ratio against the first stack, counts and empty values", "[unit]") {
  auto pgrex = group_of("pgrex", {4.0, 3.0, 5.0});
  auto shared = group_of("shared-disk", {6.0, 4.0, 5.0, 7.0});
  shared.runs.push_back(run_of("shared-disk", std::nullopt, "fail"));  // writes never resumed
  shared.runs[0].detect_s = 1.0;
  shared.runs[1].detect_s = 2.0;
  shared.runs[2].promote_s = 3.5;
  shared.runs[0].redo_s = 1.0;  // the recovery phases: medians over the runs that have one
  shared.runs[1].redo_s = 3.0;
  shared.runs[3].redo_s = 2.0;
  shared.runs[0].checkpoint_s = 0.45;
  auto none = group_of("broken", {});
  ComparisonOptions opts;
  opts.resamples = 2000;
  opts.seed = 7;
  auto rows = compare_groups({pgrex, shared, none}, opts);
  REQUIRE(rows.size() == 3);

  CHECK(rows[0].is_baseline);
  CHECK(rows[0].n == 3);
  CHECK(rows[0].n_pass == 3);
  REQUIRE(rows[0].ratio_median);
  CHECK(*rows[0].ratio_median == 1.0);
  CHECK_FALSE(rows[0].ratio_ci);

  CHECK_FALSE(rows[1].is_baseline);
  CHECK(rows[1].baseline == "pgrex");
  CHECK(rows[1].runs == 5);
  CHECK(rows[1].n == 4);
  CHECK(rows[1].n_pass == 4);
  CHECK(rows[1].fault == "power_off");
  REQUIRE(rows[1].failover);
  CHECK(rows[1].failover->median == Approx(5.5));
  REQUIRE(rows[1].ratio_median);
  CHECK(*rows[1].ratio_median == Approx(5.5 / 4.0));
  REQUIRE(rows[1].ratio_ci);
  CHECK(rows[1].ratio_ci->low <= rows[1].ratio_ci->high);
  REQUIRE(rows[1].median_detect_s);
  CHECK(*rows[1].median_detect_s == Approx(1.5));
  REQUIRE(rows[1].median_promote_s);
  CHECK(*rows[1].median_promote_s == Approx(3.5));
  REQUIRE(rows[1].median_redo_s);
  CHECK(*rows[1].median_redo_s == Approx(2.0));
  REQUIRE(rows[1].median_checkpoint_s);
  CHECK(*rows[1].median_checkpoint_s == Approx(0.45));
  CHECK_FALSE(rows[0].median_redo_s);  // no run has one: empty, not 0
  CHECK_FALSE(rows[0].median_checkpoint_s);

  CHECK(rows[2].runs == 0);
  CHECK_FALSE(rows[2].failover);
  CHECK_FALSE(rows[2].ratio_median);

  // A baseline without any failover: no ratios at all, never made-up numbers.
  auto rows2 = compare_groups({none, pgrex}, opts);
  CHECK_FALSE(rows2[0].ratio_median);
  CHECK_FALSE(rows2[1].ratio_median);
  CHECK_FALSE(rows2[1].ratio_ci);

  const std::string text = comparison_text(rows, opts);
  CHECK(text.find("pgrex (default): median failover 4.00 s (n=3, 3/3 pass, p95 4.90 s), baseline") !=
        std::string::npos);
  CHECK(text.find("shared-disk (default): median failover 5.50 s (n=4, 4/5 pass, p95 6.85 s), detect 1.50 s, "
                  "promote 3.50 s, redo 2.00 s, checkpoint 0.45 s, 1.38× pgrex [95% CI ") != std::string::npos);
  CHECK(text.find("broken (default): no failover measured (0 runs, 0/0 pass)") != std::string::npos);
  CHECK(text.find("B=2000, seed 7") != std::string::npos);
}

TEST_CASE("comparison.csv reads back with fast-cpp-csv-parser, empty cells for undefined values", "[unit]") {
  ComparisonOptions opts;
  opts.resamples = 500;
  auto rows = compare_groups(
      {group_of("pgrex", {4.0, 3.0}), group_of("shared-disk", {5.0, 6.0}), group_of("single", {2.0})}, opts);
  const auto path = (scratch("csv") / "comparison.csv").string();
  write_comparison_csv(path, rows);

  io::CSVReader<20, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(path);
  in.read_header(io::ignore_no_column, "stack", "profile", "disk", "fault", "scenario", "runs", "n", "n_pass", "min",
                 "median", "p95", "max", "median_detect_s", "median_promote_s", "median_redo_s", "median_checkpoint_s",
                 "median_first_write_s", "ratio_median", "ratio_ci_low", "ratio_ci_high");
  std::string stack, profile, disk, fault, scenario, min, median, p95, max, detect, promote, redo, checkpoint,
      first_write, ratio, lo, hi;
  int runs = 0, n = 0, n_pass = 0;
  auto next = [&] {
    return in.read_row(stack, profile, disk, fault, scenario, runs, n, n_pass, min, median, p95, max, detect, promote,
                       redo, checkpoint, first_write, ratio, lo, hi);
  };
  REQUIRE(next());
  CHECK(stack == "pgrex");
  CHECK(scenario == "power-off-primary");
  CHECK(n == 2);
  CHECK(min == "3.000");
  CHECK(median == "3.500");
  CHECK(p95 == "3.950");
  CHECK(max == "4.000");
  CHECK(first_write == median);
  CHECK(detect.empty());
  CHECK(redo.empty());
  CHECK(checkpoint.empty());
  CHECK(ratio == "1.000");
  CHECK(lo.empty());
  CHECK(hi.empty());
  REQUIRE(next());
  CHECK(stack == "shared-disk");
  CHECK(ratio == "1.571");
  CHECK_FALSE(lo.empty());
  CHECK_FALSE(hi.empty());
  CHECK(std::stod(lo) <= std::stod(ratio));
  CHECK(std::stod(ratio) <= std::stod(hi));
  REQUIRE(next());
  CHECK(stack == "single");
  CHECK(n == 1);
  CHECK(ratio == "0.571");
  CHECK(lo.empty());  // one run: no interval
  CHECK_FALSE(next());
}

TEST_CASE("compare --from: results.csv files are read back and grouped by stack", "[unit]") {
  const auto dir = scratch("from");
  auto row = [](const std::string& stack, double failover, const std::string& verdict) {
    RunRow r;
    r.scenario = "power-off-primary";
    r.kind = "single-fault";
    r.stack = stack;
    r.profile = "fast";
    r.fault = "power_off";
    r.target = "primary->node1";
    r.metrics.failover_s = failover;
    r.metrics.promote_s = failover - 1;
    r.metrics.redo_s = failover / 10;
    if (stack == "pgrex") r.metrics.checkpoint_s = 0.25;
    r.verdict = verdict;
    r.reason = "a reason, with a comma and \"quotes\"";
    return r;
  };
  const auto a = (dir / "a.csv").string(), b = (dir / "b.csv").string();
  write_results_csv(a, {row("pgrex", 4.0, "pass"), row("pgrex", 5.0, "pass")});
  RunRow never = row("shared-disk", 0, "fail");
  never.metrics.failover_s.reset();
  write_results_csv(b, {row("shared-disk", 6.0, "pass"), never, row("shared-disk", 8.0, "pass")});

  std::vector<CompareRun> runs = read_results_csv(a);
  const auto more = read_results_csv(b);
  runs.insert(runs.end(), more.begin(), more.end());
  REQUIRE(runs.size() == 5);
  CHECK(runs[0].stack == "pgrex");
  CHECK(runs[0].profile == "fast");
  REQUIRE(runs[0].promote_s);
  CHECK(*runs[0].promote_s == Approx(3.0));
  REQUIRE(runs[0].redo_s);
  CHECK(*runs[0].redo_s == Approx(0.4));
  REQUIRE(runs[0].checkpoint_s);
  CHECK(*runs[0].checkpoint_s == Approx(0.25));
  CHECK_FALSE(runs[2].checkpoint_s);  // an empty cell reads back as unknown
  CHECK_FALSE(runs[0].detect_s);
  CHECK_FALSE(runs[3].failover_s);
  CHECK(runs[3].verdict == "fail");

  auto groups = group_runs(runs);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].stack == "pgrex");
  CHECK(groups[0].runs.size() == 2);
  CHECK(groups[1].stack == "shared-disk");
  CHECK(groups[1].runs.size() == 3);
  auto rows = compare_groups(groups, {});
  REQUIRE(rows[1].ratio_median);
  CHECK(*rows[1].ratio_median == Approx(7.0 / 4.5));

  SECTION("a file from before detect_s/promote_s/redo_s/checkpoint_s existed still reads") {
    const auto old = (dir / "old.csv").string();
    std::ofstream(old) << "scenario,stack,profile,fault,failover_s,verdict\r\nx,pgpool,default,kill,2.5,pass\r\n";
    auto r = read_results_csv(old);
    REQUIRE(r.size() == 1);
    CHECK(*r[0].failover_s == 2.5);
    CHECK_FALSE(r[0].promote_s);
    CHECK_FALSE(r[0].redo_s);
    CHECK_FALSE(r[0].checkpoint_s);
  }
  SECTION("errors name the file and what is wrong") {
    const auto bad = (dir / "bad.csv").string();
    std::ofstream(bad) << "scenario,stack,failover_s,verdict\r\nx,pgpool,fast-ish,pass\r\n";
    CHECK_THROWS_WITH(read_results_csv(bad), Catch::Contains("bad.csv:2: column failover_s: 'fast-ish'"));
    const auto other = (dir / "other.csv").string();
    std::ofstream(other) << "name,value\r\na,1\r\n";
    CHECK_THROWS_WITH(read_results_csv(other), Catch::Contains("no column 'scenario'"));
    CHECK_THROWS_WITH(read_results_csv((dir / "missing.csv").string()), Catch::Contains("missing.csv"));
  }
}

TEST_CASE("compare refuses before any lab is brought up", "[unit]") {
  const auto dir = scratch("refuse");
  // A stand-in lab script that records every call: it must never be called here.
  const auto script = dir / "fake-lab";
  const auto calls = dir / "calls";
  std::ofstream(script) << "#!/bin/sh\necho \"$@\" >>" << calls.string() << "\n";
  fs::permissions(script, fs::perms::owner_all);
  const auto scenario = dir / "s.yaml";
  std::ofstream(scenario) << "name: s\nsteps:\n  - wait: 1s\n";

  CompareOptions o;
  o.stacks = {"a", "b"};
  o.lab_script = script.string();
  o.lab_state = (dir / "state").string();
  o.ledger_path = (dir / "ledger.json").string();
  o.out_dir = (dir / "out").string();

  o.scenario_path = (dir / "missing.yaml").string();
  CHECK(run_compare(o) == 2);
  o.scenario_path = scenario.string();
  o.stacks = {};
  CHECK(run_compare(o) == 2);
  o.stacks = {"a", "../evil"};
  CHECK(run_compare(o) == 2);
  o.stacks = {"a", "a"};
  CHECK(run_compare(o) == 2);
  // A lab already up in the state dir is not replaced.
  o.stacks = {"a", "b"};
  fs::create_directories(o.lab_state);
  std::ofstream(o.lab_state + "/lab.env") << "STACK=pgpool\n";
  CHECK(run_compare(o) == 2);
  // A bad scenario.
  fs::remove(o.lab_state + "/lab.env");
  std::ofstream(scenario) << "name: s\nstepz: []\n";
  CHECK(run_compare(o) == 2);
  CHECK_FALSE(fs::exists(calls));
  CHECK_FALSE(fs::exists(o.out_dir));
}

TEST_CASE("timing report: per-condition figures and the worst case by p95 per stack", "[unit]") {
  auto cond = [](const std::string& scenario, const std::string& stack, std::optional<double> f,
                 const std::string& verdict = "pass") {
    CompareRun r = run_of(stack, f, verdict);
    r.scenario = scenario;
    return r;
  };
  std::vector<CompareRun> runs;
  // "vacuum" has the higher median, "checkpoint" the higher p95 (one slow run).
  for (double f : {6.0, 6.1, 6.2, 6.3, 6.4}) runs.push_back(cond("vacuum", "pgrex", f));
  for (double f : {5.0, 5.1, 5.2, 5.3, 9.9}) runs.push_back(cond("checkpoint", "pgrex", f));
  runs.push_back(cond("checkpoint", "pgrex", std::nullopt, "error"));
  // Another stack has its own worst case.
  for (double f : {1.0, 2.0}) runs.push_back(cond("vacuum", "patroni", f));
  runs.push_back(cond("checkpoint", "patroni", std::nullopt, "error"));
  runs[0].redo_s = 0.5;  // pgrex vacuum: one run with recovery phases
  runs[0].checkpoint_s = 0.25;
  for (std::size_t i = 5; i < 10; ++i) runs[i].maintenance_in_flight = i < 8 ? 1 : 0;  // pgrex checkpoint: 3 of 6

  const auto rows = timing_rows(group_runs(runs));
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].stats.scenario == "vacuum");
  CHECK_FALSE(rows[0].worst);
  CHECK(rows[1].stats.scenario == "checkpoint");
  CHECK(rows[1].worst);
  CHECK(rows[1].stats.runs == 6);
  CHECK(rows[1].stats.n == 5);
  CHECK(rows[1].stats.failover->max == Approx(9.9));
  CHECK(rows[2].worst);  // patroni vacuum: the only measured condition
  CHECK_FALSE(rows[3].worst);
  CHECK_FALSE(rows[3].stats.failover);

  const std::string text = timing_text(rows);
  CHECK_THAT(text, Catch::Contains("pgrex (default): failover_s per condition"));
  CHECK_THAT(text, Catch::Contains("worst case: checkpoint (power_off)"));
  CHECK_THAT(text, Catch::Contains("worst case: vacuum (power_off), p95 1.95 s, max 2.00 s over 2 run(s)"));
  CHECK_THAT(text, Catch::Contains("detect  promote     redo checkpoint in flight"));
  CHECK_THAT(text, Catch::Contains("       -     0.50       0.25         -"));
  CHECK_THAT(text, Catch::Contains("       -        -          -       3/6  <- worst"));
  CHECK(rows[1].stats.n_in_flight == std::optional<std::size_t>(3));
  CHECK_FALSE(rows[0].stats.n_in_flight);

  const auto dir = scratch("timing");
  write_timing_files(dir.string(), runs);
  io::CSVReader<8> in((dir / "timing.csv").string());
  in.read_header(io::ignore_extra_column, "stack", "scenario", "n", "p95_s", "median_redo_s", "median_checkpoint_s",
                 "n_maintenance_in_flight", "worst");
  std::string stack, scenario, n, p95, redo, checkpoint, in_flight, worst;
  int worst_rows = 0, lines = 0;
  while (in.read_row(stack, scenario, n, p95, redo, checkpoint, in_flight, worst)) {
    ++lines;
    if (worst == "yes") ++worst_rows;
    CHECK(in_flight == (stack == "pgrex" && scenario == "checkpoint" ? "3" : ""));
    if (stack == "patroni" && scenario == "checkpoint") CHECK(p95.empty());
    CHECK(redo == (lines == 1 ? "0.500" : ""));
    CHECK(checkpoint == (lines == 1 ? "0.250" : ""));
  }
  CHECK(lines == 4);
  CHECK(worst_rows == 2);
  CHECK(fs::exists(dir / "timing.txt"));
}

TEST_CASE("compare --from: runs on different lab disks are different groups, named by their disk", "[unit]") {
  const auto dir = scratch("disk");
  auto row = [](const std::string& stack, const std::string& disk, double failover) {
    RunRow r;
    r.scenario = "power-off-primary";
    r.kind = "single-fault";
    r.stack = stack;
    r.profile = "fast";
    r.disk = disk;
    r.fault = "power_off";
    r.metrics.failover_s = failover;
    r.verdict = "pass";
    return r;
  };
  const auto path = (dir / "results.csv").string();
  write_results_csv(path, {row("pgrex", "hdd", 4.0), row("shared-disk", "hdd", 8.0), row("pgrex", "ssd", 3.0),
                           row("pgrex", "hdd", 5.0)});
  const auto runs = read_results_csv(path);
  REQUIRE(runs.size() == 4);
  CHECK(runs[2].disk == "ssd");
  const auto groups = group_runs(runs);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].disk == "hdd");
  CHECK(groups[0].runs.size() == 2);
  CHECK(groups[2].disk == "ssd");
  const auto rows = compare_groups(groups, {});
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].baseline == "pgrex");                   // same profile and disk: the stack alone
  CHECK(rows[2].baseline == "pgrex (fast, disk hdd)");  // another disk: named in full
  CHECK(group_name("pgrex", "", "") == "pgrex");
  CHECK(group_name("pgrex", "", "san") == "pgrex (disk san)");
  const std::string text = comparison_text(rows, {});
  INFO(text);
  CHECK(text.find("shared-disk (fast, disk hdd): median failover 8.00 s") != std::string::npos);
  CHECK(text.find("pgrex (fast, disk ssd): median failover 3.00 s") != std::string::npos);
  CHECK(comparison_header().at(2) == "disk");
  CHECK(comparison_fields(rows[2]).at(2) == "ssd");
}
