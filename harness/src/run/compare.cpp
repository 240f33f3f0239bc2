#include "haverify/run/compare.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/runner.hpp"
#include "reports/comparison.hpp"
#include "reports/html_report.hpp"

namespace fs = std::filesystem;

namespace haverify {

namespace {

void say(const std::string& s) {
  std::cout << fmt::format("[{}] compare: {}", format_wall_ns(wall_now_ns()).substr(11, 12), s) << std::endl;
}

int usage_error(const std::string& message) {
  std::cerr << "haverify compare: " << message << "\n";
  return kExitUsage;
}

// A stack name becomes a directory and a lab argument: keep it plain.
bool plain_name(const std::string& s) {
  return !s.empty() && s.size() <= 64 && s.front() != '-' && s.front() != '.' &&
         std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::string default_out_dir() {
  return fmt::format("runs/compare/{}", timestamp_dirname(wall_now_ns()));
}

// Writes comparison.csv and comparison.txt into `out` and prints the summary.
void write_comparison(const std::string& out, const std::vector<reports::RunGroup>& groups,
                      const reports::ComparisonOptions& copts) {
  const auto rows = reports::compare_groups(groups, copts);
  reports::write_comparison_csv(out + "/comparison.csv", rows);
  const std::string text = reports::comparison_text(rows, copts);
  std::ofstream txt(out + "/comparison.txt", std::ios::trunc | std::ios::binary);
  txt << text;
  if (!txt) throw std::runtime_error(fmt::format("cannot write {}/comparison.txt", out));
  std::cout << "\n" << text << fmt::format("\ncomparison: {0}/comparison.csv\nsummary:    {0}/comparison.txt\n", out);
}

int compare_from_files(const CompareOptions& opts) {
  std::vector<reports::CompareRun> runs;
  for (const auto& f : opts.from) {
    if (!fs::is_regular_file(f))
      return usage_error(fmt::format("--from: {} is not a file (give results.csv files, comma-separated)", f));
    try {
      auto rows = reports::read_results_csv(f);
      if (rows.empty()) std::cerr << fmt::format("haverify compare: warning: {} holds no runs\n", f);
      runs.insert(runs.end(), rows.begin(), rows.end());
    } catch (const std::exception& e) {
      return usage_error(e.what());
    }
  }
  if (runs.empty()) return usage_error("--from: the files hold no runs; nothing to compare");
  const std::string out = opts.out_dir.empty() ? default_out_dir() : opts.out_dir;
  fs::create_directories(out);
  reports::ComparisonOptions copts;
  copts.resamples = opts.resamples;
  copts.seed = opts.seed ? opts.seed : 1;
  write_comparison(out, reports::group_runs(runs), copts);
  std::vector<std::string> verdicts;
  for (const auto& r : runs) verdicts.push_back(r.verdict);
  return exit_code_for_verdicts(verdicts);
}

struct StackOutcome {
  std::vector<reports::RunRow> rows;
  bool harness_failed = false;  // did not come up, runs ended in a harness failure, or did not go down
  bool down_failed = false;
};

// lab up, N runs, lab down (always, once up was attempted).
StackOutcome run_stack(const CompareOptions& opts, const std::string& stack, const std::string& out,
                       std::uint64_t seed) {
  StackOutcome outcome;
  LabScriptOptions lab;
  lab.script = opts.lab_script;
  lab.state_dir = opts.lab_state;
  lab.log_path = fmt::format("{}/lab-{}.log", out, stack);
  std::string error;
  try {
    std::vector<std::string> up_args = {"up", "--stack", stack, "--profile", opts.profile};
    if (!opts.disk.empty()) up_args.insert(up_args.end(), {"--disk", opts.disk});
    say(fmt::format("{}: lab {} (log {})", stack, fmt::join(up_args, " "), lab.log_path));
    lab.deadline = opts.lab_up_deadline;
    lab.interruptible = true;
    ExecResult up = run_lab_script(up_args, lab);
    if (!up.ok()) {
      error = fmt::format("lab up --stack {} failed ({}); see {}", stack, describe(up), lab.log_path);
    } else if (!cancel::requested()) {
      RunOptions ropts;
      ropts.inventory_path = opts.lab_state + "/inventory.yaml";
      ropts.scenario_paths = {opts.scenario_path};
      ropts.seed = seed;
      ropts.repeat = opts.n;
      ropts.out_dir = fmt::format("{}/{}", out, stack);
      ropts.ledger_path = opts.ledger_path;
      ropts.fault_deadline = opts.fault_deadline;
      say(fmt::format("{}: {} run(s) of {} against {}", stack, opts.n, opts.scenario_path, ropts.inventory_path));
      const int rc = run_suite(ropts, &outcome.rows);
      if (rc == kExitUsage)
        error = fmt::format("the inventory written by lab up ({}) is not usable (see above)", ropts.inventory_path);
      else if (rc == kExitHarness)
        error = fmt::format("the runs against {} ended in a harness failure (see above and {}/results.csv)", stack,
                            ropts.out_dir);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (cancel::requested() && error.empty()) error = cancel::reason();
  // Always down, whatever happened; not interruptible (a second Ctrl-C must
  // not leave a half-torn-down lab), bounded by its own deadline.
  try {
    say(fmt::format("{}: lab down", stack));
    lab.deadline = opts.lab_down_deadline;
    lab.interruptible = false;
    ExecResult down = run_lab_script({"down"}, lab);
    if (!down.ok()) {
      outcome.down_failed = true;
      const std::string why = fmt::format("lab down after {} failed ({}); see {} and run `haverify lab down`", stack,
                                          describe(down), lab.log_path);
      error += (error.empty() ? "" : "; ") + why;
    }
  } catch (const std::exception& e) {
    outcome.down_failed = true;
    error += fmt::format("{}lab down after {}: {}", error.empty() ? "" : "; ", stack, e.what());
  }
  if (!error.empty()) {
    outcome.harness_failed = true;
    std::cerr << fmt::format("haverify compare: {}: {}\n", stack, error);
  }
  return outcome;
}

// Everything that can be checked before a lab is brought up; empty if fine.
std::string preflight(const CompareOptions& opts) {
  if (opts.scenario_path.empty()) return "--scenario FILE is required (or --from results.csv,...)";
  if (!fs::is_regular_file(opts.scenario_path))
    return fmt::format("scenario file {} does not exist or is not a file; nothing was brought up", opts.scenario_path);
  try {
    load_scenario(opts.scenario_path);
  } catch (const ConfigError& e) {
    return fmt::format("{}\nnothing was brought up (fix the scenario; `haverify validate` checks it)", e.what());
  }
  if (opts.stacks.empty()) return "--stacks is required: the stacks to compare, comma-separated, baseline first";
  for (std::size_t i = 0; i < opts.stacks.size(); ++i) {
    const auto& s = opts.stacks[i];
    if (!plain_name(s))
      return fmt::format("stack name '{}' must be letters, digits, '-', '_' or '.' (it names a directory)", s);
    if (std::find(opts.stacks.begin(), opts.stacks.begin() + static_cast<std::ptrdiff_t>(i), s) !=
        opts.stacks.begin() + static_cast<std::ptrdiff_t>(i))
      return fmt::format("stack '{}' is listed twice", s);
  }
  if (opts.n < 1) return "-n must be at least 1";
  if (::access(opts.lab_script.c_str(), X_OK) != 0)
    return fmt::format("lab script {} is not an executable file (give --lab PATH or set HAVERIFY_LAB_DIR)",
                       opts.lab_script);
  if (lab_is_up(opts.lab_state))
    return fmt::format(
        "a lab is already up in {} (its lab.env exists); compare brings up and tears down its own labs and will not "
        "replace it: take it down with `haverify lab down` first, or set HAVERIFY_LAB_STATE to another directory",
        opts.lab_state);
  return {};
}

}  // namespace

int run_compare(const CompareOptions& given) {
  if (!given.from.empty()) {
    if (!given.scenario_path.empty() || !given.stacks.empty())
      return usage_error("--from compares existing results: it does not take --scenario or --stacks");
    return compare_from_files(given);
  }
  CompareOptions opts = given;
  if (opts.lab_script.empty()) opts.lab_script = lab_script_path();
  if (opts.lab_state.empty()) opts.lab_state = lab_state_dir();
  if (std::string problem = preflight(opts); !problem.empty()) return usage_error(problem);
  if (std::string problem = unhealed_faults_problem(opts.ledger_path); !problem.empty()) {
    std::cerr << "haverify compare: " << problem << ". Nothing was brought up\n";
    return kExitHarness;
  }
  const Scenario scenario = load_scenario(opts.scenario_path);
  const std::uint64_t seed = opts.seed ? opts.seed : static_cast<std::uint64_t>(wall_now_ns() % 1'000'000'007ULL);
  const std::string out = opts.out_dir.empty() ? default_out_dir() : opts.out_dir;
  fs::create_directories(out);
  say(fmt::format("scenario {} | stacks {} | profile {} | disk {} | n {} | seed {} | out {}", scenario.name,
                  fmt::join(opts.stacks, ","), opts.profile, opts.disk.empty() ? "(lab default)" : opts.disk, opts.n,
                  seed, out));

  std::vector<reports::RunGroup> groups;
  std::vector<reports::RunRow> all_rows;
  bool harness_failed = false, down_failed = false;
  for (const auto& stack : opts.stacks) {
    if (cancel::requested()) break;
    StackOutcome o = run_stack(opts, stack, out, seed);
    // The group is the stack as asked for on the command line, even if it ran no run.
    // Its disk is the one the runs recorded (the lab's default when --disk was not given).
    reports::RunGroup g{scenario.name, stack, opts.profile, o.rows.empty() ? opts.disk : o.rows.front().disk, {}};
    for (const auto& r : o.rows) g.runs.push_back(reports::to_compare_run(r));
    groups.push_back(std::move(g));
    all_rows.insert(all_rows.end(), o.rows.begin(), o.rows.end());
    harness_failed |= o.harness_failed;
    down_failed |= o.down_failed;
    if (o.down_failed) {
      std::cerr << "haverify compare: stopping: a lab that did not go down cannot be replaced by the next one\n";
      break;
    }
    if (o.harness_failed && !opts.keep_going && &stack != &opts.stacks.back()) {
      std::cerr << "haverify compare: stopping after the failure above (--keep-going goes on with the next stack)\n";
      break;
    }
  }
  if (cancel::requested()) harness_failed = true;
  if (!all_rows.empty()) reports::write_results_csv(out + "/results.csv", all_rows);
  reports::ComparisonOptions copts;
  copts.resamples = opts.resamples;
  copts.seed = seed;
  write_comparison(out, groups, copts);
  if (!all_rows.empty()) {
    reports::write_report_html(out + "/report.html", {"compare " + scenario.name, all_rows.front().started, out},
                               all_rows);
    std::cout << fmt::format("report:     {}/report.html\n", out);
  }
  if (cancel::requested())
    std::cerr << fmt::format("haverify compare: {}; {}\n", cancel::reason(),
                             down_failed ? "a lab did not go down (see above)" : "every lab was taken down");
  std::vector<std::string> verdicts;
  for (const auto& r : all_rows) verdicts.push_back(r.verdict);
  const int rc = exit_code_for_verdicts(verdicts);
  return harness_failed ? kExitHarness : rc;
}

}  // namespace haverify
