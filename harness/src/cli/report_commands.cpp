// `haverify compare` and `haverify report merge|timing`: runs and results.csv
// files of several stacks or runs, side by side.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/io/csv_read.hpp"
#include "haverify/run/compare.hpp"
#include "reports/comparison.hpp"
#include "reports/html_report.hpp"
#include "reports/merge.hpp"
#include "reports/timing.hpp"

namespace haverify::cli {

namespace {

// `haverify compare`: CompareOptions plus the flags converted after CLI11.
struct CompareCli {
  CompareOptions options;
  int fault_deadline_ms = 15000;
  int lab_up_s = 1200;
  int lab_down_s = 300;
};

int compare_command(CompareCli& c) {
  export_lab_init();
  c.options.fault_deadline = std::chrono::milliseconds(c.fault_deadline_ms);
  c.options.lab_up_deadline = std::chrono::seconds(c.lab_up_s);
  c.options.lab_down_deadline = std::chrono::seconds(c.lab_down_s);
  cancel::cooperate();  // the runs heal on Ctrl-C
  return run_compare(c.options);
}

// Suite directories (the shards of a suite) -> one suite's reports in `out`;
// CSV files -> one CSV file. A CsvReadError or UsageError reaches main.
int report_merge(const std::string& out, const std::vector<std::string>& inputs) {
  std::error_code ec;
  const auto is_dir = [&ec](const std::string& p) { return std::filesystem::is_directory(p, ec); };
  if (std::all_of(inputs.begin(), inputs.end(), is_dir)) {
    const auto m = reports::merge_suite_dirs(inputs, out);
    std::cout << fmt::format(
        "{0}: suite {1}, {2} run(s) from {3} shard(s): {4} pass, {5} fail, {6} unknown, {7} error\n"
        "results: {0}/results.csv\njunit:   {0}/junit.xml\nsummary: {0}/summary.json\nreport:  {0}/report.html\n",
        out, m.suite, m.rows, inputs.size(), m.pass, m.fail, m.unknown, m.error);
    // As the suite's own exit code: 0 only when every verdict passed.
    return exit_code(m.pass == m.rows ? ExitStatus::pass : ExitStatus::verdict_failed);
  }
  if (std::any_of(inputs.begin(), inputs.end(), is_dir))
    throw UsageError("report merge: give either suite directories (the shards of a suite) or CSV files, not both");
  const auto n = reports::merge_csv_files(inputs, out);
  std::cout << fmt::format("{}: {} row(s) from {} file(s)\n", out, n, inputs.size());
  return exit_code(ExitStatus::pass);
}

int report_timing(std::string out, const std::vector<std::string>& inputs) {
  std::vector<reports::CompareRun> runs;
  try {
    for (const auto& f : inputs) {
      auto rows = reports::read_results_csv(f);
      runs.insert(runs.end(), rows.begin(), rows.end());
    }
  } catch (const std::exception& e) {
    std::cerr << "haverify report timing: " << e.what() << "\n";
    return exit_code(ExitStatus::usage);
  }
  if (runs.empty()) {
    std::cerr << "haverify report timing: the files hold no runs\n";
    return exit_code(ExitStatus::usage);
  }
  if (out.empty()) out = std::filesystem::path(inputs.front()).parent_path().string();
  if (out.empty()) out = ".";
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::cerr << fmt::format("haverify report timing: cannot create {}: {}\n", out, ec.message());
    return exit_code(ExitStatus::usage);
  }
  std::cout << reports::write_timing_files(out, runs) << fmt::format("\ntiming: {0}/timing.csv, {0}/timing.txt\n", out);
  return exit_code(ExitStatus::pass);
}

struct ReportCli {
  std::string merge_out;
  std::vector<std::string> merge_in;
  std::string timing_out;
  std::vector<std::string> timing_in;
  std::string html_dir;
};

// `haverify report html DIR`: DIR/report.html rebuilt from the run directories.
int report_html(const std::string& dir) {
  const auto n = reports::rebuild_report_html(dir);
  std::cout << fmt::format("{}/report.html: {} run(s)\n", dir, n);
  return exit_code(ExitStatus::pass);
}

}  // namespace

void add_compare(CLI::App& app, Commands& out) {
  auto c = std::make_shared<CompareCli>();
  CompareOptions& o = c->options;
  auto* cmp = app.add_subcommand(
      "compare", "Run one scenario N times against each stack of the lab (up, runs, down) and compare failover times");
  auto* scenario = cmp->add_option("--scenario", o.scenario_path, "the scenario file");
  auto* stacks = cmp->add_option("--stacks", o.stacks, "stacks to compare, comma-separated; the first is the baseline")
                     ->delimiter(',');
  auto* profile = cmp->add_option("--profile", o.profile, "lab profile for every stack (default|fast)");
  auto* disk = cmp->add_option(
      "--disk", o.disk, "lab disk profile for every stack (tmpfs|ram|ssd|hdd|san; docs/lab.md; default: the lab's)");
  auto* n = cmp->add_option("-n", o.n, "runs per stack (default 5)")->check(CLI::Range(1, 100000));
  cmp->add_option("--seed", o.seed, "seed of the runs and of the bootstrap (default: from the clock; --from: 1)");
  cmp->add_option("--out", o.out_dir, "output directory (default runs/compare/<timestamp>)");
  auto* lab = cmp->add_option("--lab", o.lab_script, "the haverify-lab script (default: the source tree's)");
  auto* keep = cmp->add_flag("--keep-going", o.keep_going,
                             "go on with the next stack when one does not come up or its runs fail to run");
  auto* ledger = cmp->add_option("--ledger", o.ledger_path, "fault ledger file");
  auto* fault_deadline =
      cmp->add_option("--fault-deadline-ms", c->fault_deadline_ms, "deadline for each inject/verify/heal command")
          ->check(CLI::Range(100, 600000));
  auto* up = cmp->add_option("--lab-up-timeout", c->lab_up_s, "seconds allowed for each `lab up` (default 1200)")
                 ->check(CLI::Range(10, 86400));
  auto* down = cmp->add_option("--lab-down-timeout", c->lab_down_s, "seconds allowed for each `lab down` (default 300)")
                   ->check(CLI::Range(10, 86400));
  cmp->add_option(
         "--from", o.from,
         "offline: compare existing results.csv files (comma-separated), grouped by scenario, stack, profile, disk")
      ->delimiter(',')
      ->excludes(scenario, stacks, profile, disk, n, lab, keep, ledger, fault_deadline, up, down);
  out.push_back({cmp, [c] { return compare_command(*c); }});
}

void add_report(CLI::App& app, Commands& out) {
  auto r = std::make_shared<ReportCli>();
  auto* report = app.add_subcommand("report", "Report tools");
  report->require_subcommand(1);
  auto* merge = report->add_subcommand(
      "merge",
      "Join the output directories of a sharded suite into one (results.csv, junit.xml, summary.json, "
      "report.html), or "
      "results.csv (or plan.csv) files with the same header into one");
  merge->add_option("-o,--out", r->merge_out, "the merged directory (suite directories) or file (CSV files)")
      ->required();
  merge->add_option("inputs", r->merge_in, "suite directories, or CSV files")->required();
  auto* timing = report->add_subcommand(
      "timing", "Failover min/median/p95/max per condition (scenario) and the worst case, from results.csv files");
  timing->add_option("--out", r->timing_out, "folder for timing.csv and timing.txt (default: the first file's)");
  timing->add_option("files", r->timing_in, "results.csv files")->required()->check(CLI::ExistingFile);
  auto* html = report->add_subcommand(
      "html", "Rebuild a suite's report.html (timelines, phases, the suite table) from its output directory");
  html->add_option("dir", r->html_dir, "the suite's output directory")->required()->check(CLI::ExistingDirectory);
  out.push_back({merge, [r] { return report_merge(r->merge_out, r->merge_in); }});
  out.push_back({html, [r] { return report_html(r->html_dir); }});
  out.push_back({timing, [r] { return report_timing(r->timing_out, r->timing_in); }});
}

}  // namespace haverify::cli
