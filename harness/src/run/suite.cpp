#include "haverify/run/suite.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "faults/ledger.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/control_paths.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/run_log.hpp"
#include "haverify/run/runner.hpp"
#include "haverify/run/session.hpp"
#include "haverify/run/suite_manifest.hpp"
#include "reports/html_report.hpp"
#include "reports/results.hpp"
#include "reports/results_read.hpp"
#include "reports/summary.hpp"
#include "reports/timing.hpp"

namespace fs = std::filesystem;

namespace haverify {

namespace {

// The .yaml/.yml files under `dir`; an unreadable folder is a usage error naming it.
std::vector<std::string> yaml_files_in(const std::string& dir, bool recursive) {
  std::vector<std::string> files;
  auto refuse = [](const std::error_code& ec, const fs::path& where) {
    return UsageError(fmt::format("{}: cannot list the folder ({}; check its mode)", where.string(), ec.message()));
  };
  auto add = [&](const fs::directory_entry& e) {
    const auto ext = e.path().extension();
    std::error_code ec;
    if ((ext == ".yaml" || ext == ".yml") && e.is_regular_file(ec)) files.push_back(e.path().string());
  };
  std::error_code ec;
  if (recursive) {
    fs::recursive_directory_iterator it(dir, ec), end;
    fs::path last = dir;  // the entry increment() descends into when it fails
    for (; !ec && it != end; it.increment(ec)) {
      add(*it);
      last = it->path();
    }
    if (ec) throw refuse(ec, last);
  } else {
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) add(*it);
    if (ec) throw refuse(ec, dir);
  }
  return files;
}

}  // namespace

std::vector<std::string> expand_scenario_paths(const std::vector<std::string>& paths, bool recursive) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> files = yaml_files_in(p, recursive);
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

std::optional<std::pair<int, int>> parse_shard(const std::string& text, std::string* error) {
  const auto slash = text.find('/');
  int i = 0, n = 0;
  try {
    std::size_t a = 0, b = 0;
    if (slash == std::string::npos) throw std::invalid_argument("no /");
    i = std::stoi(text.substr(0, slash), &a);
    n = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    if (error) *error = fmt::format("--shard '{}': expected i/n, e.g. 1/3", text);
    return std::nullopt;
  }
  if (n < 1 || i < 1 || i > n) {
    if (error) *error = fmt::format("--shard '{}': need 1 <= i <= n", text);
    return std::nullopt;
  }
  return std::make_pair(i, n);
}

std::vector<std::size_t> seeded_order(std::size_t count, std::uint64_t seed, bool shuffle) {
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  if (!shuffle) return order;
  std::mt19937_64 rng(seed);
  for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

bool in_shard(std::size_t position, int index, int count) {
  return count >= 1 && static_cast<int>(position % static_cast<std::size_t>(count)) == index - 1;
}

int exit_code_for_verdicts(const std::vector<std::string>& verdicts) {
  bool any_error = false, any_fail = false;
  for (const auto& v : verdicts) {
    any_error |= v == "error";
    any_fail |= v == "fail" || v == "unknown";
  }
  if (any_error) return kExitHarness;
  return any_fail ? kExitVerdictFailed : kExitPass;
}

namespace {

int verdict_rank(const std::string& v) {
  if (v == "error") return 3;
  if (v == "fail") return 2;
  if (v == "unknown") return 1;
  return 0;
}

// A plan row's result columns from one run: the worst repetition (the last among equals) stays.
void fill_plan_row(PlanRow& p, const reports::RunRow& r) {
  if (!p.verdict.empty() && verdict_rank(r.verdict) < verdict_rank(p.verdict)) return;
  p.verdict = r.verdict;
  p.failover_s = r.metrics.failover_s ? fmt::format("{:.3f}", *r.metrics.failover_s) : "";
  p.lost_acked = r.metrics.lost_acked ? std::to_string(*r.metrics.lost_acked) : "";
  p.reason = r.reason;
  p.run_dir = r.run_dir;
  p.seed = std::to_string(r.seed);
}

// What the suite runs, from the files (or the plan sheet); `errors`: every configuration error.
struct SuiteConfig {
  Inventory inv;
  std::vector<Scenario> scenarios;
  std::vector<PlanRow> plan_rows;  // parallel to scenarios when running a plan
  std::vector<std::string> errors;
};

// A resumed suite reads the copy of the sheet it took at its start (the sheet has results, or a shard's rows).
void load_scenarios(const RunOptions& opts, const SuiteManifest* resume, SuiteConfig& c) {
  if (!opts.plan_path.empty()) {
    if (!opts.scenario_paths.empty()) c.errors.push_back("give either scenario files or --plan, not both");
    const std::string sheet = resume ? resume->dir + "/" + kSuitePlanCopyFile : opts.plan_path;
    try {
      c.plan_rows = read_plan_csv(sheet, &c.scenarios, resume ? resume->plan_base : std::string());
      if (c.plan_rows.empty()) c.errors.push_back(sheet + ": the sheet has no rows");
    } catch (const PlanError& e) {
      for (const auto& p : e.problems()) c.errors.push_back(p);
    }
    return;
  }
  const auto files = expand_scenario_paths(opts.scenario_paths);
  if (files.empty()) c.errors.push_back("no scenario files given (a .yaml file or a directory of them, or --plan)");
  for (const auto& f : files) {
    try {
      c.scenarios.push_back(load_scenario(f));
    } catch (const ConfigError& e) {
      c.errors.push_back(e.what());
    }
  }
}

SuiteConfig load_suite(const RunOptions& opts, const SuiteManifest* resume) {
  SuiteConfig c;
  try {
    c.inv = load_inventory(opts.inventory_path);
  } catch (const ConfigError& e) {
    c.errors.push_back(e.what());
  }
  load_scenarios(opts, resume, c);
  if (c.errors.empty()) c.errors = self_cut_problems(c.inv, c.scenarios);  // before any fault (issue 17)
  if (opts.duration && c.errors.empty()) {
    bool any = false;
    for (auto& sc : c.scenarios)
      if (sc.has_soak()) {
        sc.override_soak(*opts.duration);
        any = true;
      }
    if (!any) c.errors.push_back("--duration: no scenario has a soak step to set");
  }
  if (opts.shard_count > 1 && opts.seed == 0)
    c.errors.push_back("--shard needs --seed: every shard must order the items the same way");
  return c;
}

// The suite's items in the seeded order; this shard's share of them, each
// with its run directory (numbered in this shard's order).
std::vector<SuiteItem> shard_items(const RunOptions& opts, const std::vector<Scenario>& scenarios, std::uint64_t seed,
                                   const std::string& out) {
  std::vector<SuiteItem> all;
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const int repeat = opts.repeat > 0 ? opts.repeat : scenarios[i].repeat;
    for (int r = 1; r <= repeat; ++r) all.push_back(SuiteItem{i, r, 0, scenarios[i].name, {}});
  }
  std::vector<SuiteItem> items;
  const auto order = seeded_order(all.size(), seed, opts.shuffle);
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    SuiteItem it = all[order[pos]];
    it.position = pos;
    if (!in_shard(pos, opts.shard_index, opts.shard_count)) continue;
    it.dir = fmt::format("{}/{:02}-{}-r{}", out, items.size() + 1, it.name, it.repetition);
    items.push_back(it);
  }
  if (opts.shard_count > 1)
    run_log(fmt::format("shard {}/{}: {} of {} run(s)", opts.shard_index, opts.shard_count, items.size(), all.size()));
  return items;
}

// The suite's name (the scenarios' kind, or "mixed") and its output directory
// (runs/<suite>/<timestamp> and the runs/latest link unless --out is given).
std::pair<std::string, std::string> prepare_output(const RunOptions& opts, const std::vector<Scenario>& scenarios) {
  std::string suite = scenarios.front().kind;
  for (const auto& s : scenarios)
    if (s.kind != suite) suite = "mixed";
  std::string out = opts.out_dir;
  if (out.empty()) out = fmt::format("runs/{}/{}", suite, timestamp_dirname(wall_now_ns()));
  fs::create_directories(out);
  if (opts.out_dir.empty()) {
    std::error_code ec;
    fs::remove("runs/latest", ec);
    fs::create_directory_symlink(fs::absolute(out), "runs/latest", ec);
  }
  return {suite, out};
}

// Runs a suite whose configuration and preflight passed (from its start, or resumed from its manifest).
class Suite {
 public:
  Suite(const RunOptions& opts, SuiteConfig& config, std::vector<reports::RunRow>& rows, const SuiteManifest* resume)
      : opts_(opts), c_(config), rows_(rows), resume_(resume), ledger_(ledger_path(opts)) {
    driver_.rejoin_script = opts.rejoin_script.empty() ? rejoin_script_for(c_.inv) : opts.rejoin_script;
  }
  int run();

 private:
  static std::string ledger_path(const RunOptions& o) {
    return o.ledger_path.empty() ? faults::FaultLedger::default_path() : o.ledger_path;
  }
  void start_fresh(const std::vector<SuiteItem>& items);
  // The complete rows of the interrupted suite, by run directory; false (after saying why) to stop.
  bool read_kept_rows(const std::vector<SuiteItem>& items, std::map<std::string, reports::RunRow>& kept);
  reports::RunRow run_item(const SuiteItem& item);
  void note_row(const SuiteItem& item, const reports::RunRow& row);
  // false when the suite must stop (a fault stays unhealed).
  bool after_run();
  void write_reports();
  void write_plan_back();
  int finish();

  const RunOptions& opts_;
  SuiteConfig& c_;
  std::vector<reports::RunRow>& rows_;
  const SuiteManifest* resume_;
  faults::FaultLedger ledger_;
  DriverOptions driver_;
  std::uint64_t seed_ = 0;
  std::string suite_, out_, plan_out_, started_;
  std::vector<bool> plan_in_shard_;
  std::map<std::size_t, bool> stopped_;       // scenario -> --stop-after-fail hit
  std::vector<reports::SkippedRun> skipped_;  // junit.xml's skipped testcases
};

int Suite::run() {
  if (resume_) {
    seed_ = resume_->seed;
    suite_ = resume_->suite;
    out_ = resume_->out;
    started_ = resume_->started;
  } else {
    started_ = format_wall_ns(wall_now_ns());
    seed_ = opts_.seed ? opts_.seed : static_cast<std::uint64_t>(wall_now_ns() % 1'000'000'007ULL);
    std::tie(suite_, out_) = prepare_output(opts_, c_.scenarios);
  }
  run_log(fmt::format("suite {} | stack {} | {} scenario(s) | seed {} | out {}{}", suite_, c_.inv.stack,
                      c_.scenarios.size(), seed_, out_, resume_ ? " | resumed" : ""));
  const auto items = shard_items(opts_, c_.scenarios, seed_, out_);
  // With a plan: the sheet is written back after every run, holding this shard's rows in the sheet's order.
  plan_out_ = opts_.plan_out.empty() ? opts_.plan_path : opts_.plan_out;
  plan_in_shard_.assign(c_.plan_rows.size(), false);
  for (const auto& it : items)
    if (it.scenario < plan_in_shard_.size()) plan_in_shard_[it.scenario] = true;
  std::map<std::string, reports::RunRow> kept;
  if (!resume_)
    start_fresh(items);
  else if (!read_kept_rows(items, kept))
    return kExitUsage;
  rows_.clear();
  bool written = !resume_;  // a resumed suite rewrites its reports from the kept rows before its first run
  for (const auto& item : items) {
    if (auto k = kept.find(item.dir); k != kept.end()) {
      note_row(item, k->second);
      continue;
    }
    if (cancel::requested() || stopped_[item.scenario]) {
      skipped_.push_back({item.name, c_.scenarios[item.scenario].kind, c_.inv.stack, item.repetition,
                          cancel::requested() ? "not run: the suite was interrupted"
                                              : "not run: --stop-after-fail, an earlier repetition failed"});
      continue;
    }
    if (!written) write_reports();
    written = true;
    const reports::RunRow row = run_item(item);
    note_row(item, row);
    if (!after_run()) return kExitHarness;
  }
  if (!written || !skipped_.empty()) write_reports();  // (the skipped runs after the last one made)
  return finish();
}

// The manifest (and the copy of the sheet) before the first run: what `run --resume` needs.
void Suite::start_fresh(const std::vector<SuiteItem>& items) {
  SuiteManifest m;
  m.cwd = fs::current_path().string();
  m.suite = suite_;
  m.out = out_;
  m.started = started_;
  m.seed = seed_;
  m.options = opts_;
  m.options.ledger_path = fs::absolute(ledger_.path()).string();
  m.options.plan_out = plan_out_;
  m.options.rejoin_script = driver_.rejoin_script;
  m.items = items;
  if (!c_.plan_rows.empty()) {
    m.plan_base = fs::absolute(opts_.plan_path).parent_path().string();
    write_plan_csv(out_ + "/" + kSuitePlanCopyFile, c_.plan_rows);
  }
  write_suite_manifest(m);
}

bool Suite::read_kept_rows(const std::vector<SuiteItem>& items, std::map<std::string, reports::RunRow>& kept) {
  if (const auto why = items_mismatch(resume_->items, items); !why.empty()) {
    std::cerr << fmt::format(
        "haverify run --resume: the suite's runs are not those {} lists ({}): a scenario file or the sheet changed "
        "since the suite started; start a new suite\n",
        kSuiteManifestFile, why);
    return false;
  }
  reports::ResultsReadBack back;
  try {
    back = reports::read_results_rows(out_ + "/results.csv");
  } catch (const UsageError& e) {
    std::cerr << "haverify run --resume: " << e.what() << "\n";
    return false;
  }
  for (const auto& note : back.notes) run_log(note);
  std::size_t foreign = 0;
  for (const auto& row : back.rows) {
    const bool ours =
        std::any_of(items.begin(), items.end(), [&](const SuiteItem& it) { return it.dir == row.run_dir; });
    if (ours)
      kept.emplace(row.run_dir, row);
    else
      ++foreign;
  }
  std::vector<std::string> moved;
  for (const auto& it : items)
    if (!kept.count(it.dir) && fs::exists(it.dir)) moved.push_back(it.dir + " -> " + move_aside(out_, it.dir));
  run_log(
      fmt::format("resume: {} of {} run(s) kept from results.csv; dropped {} incomplete, {} duplicate, {} "
                  "foreign row(s); {} run(s) to do",
                  kept.size(), items.size(), back.incomplete, back.duplicates, foreign, items.size() - kept.size()));
  for (const auto& m : moved) run_log("resume: moved a killed run's directory aside: " + m);
  return true;
}

reports::RunRow Suite::run_item(const SuiteItem& item) {
  const Scenario& sc = c_.scenarios[item.scenario];
  const int r = item.repetition;
  const std::uint64_t run_seed = seed_ + static_cast<std::uint64_t>(item.position);
  reports::RunRow row;
  try {
    row = run_session(RunSessionParams{c_.inv, sc, opts_, ledger_, driver_, r, run_seed, item.dir});
  } catch (const std::exception& e) {
    row.scenario = sc.name;
    row.kind = sc.kind;
    row.stack = c_.inv.stack;
    row.repetition = r;
    row.seed = run_seed;
    row.verdict = "error";
    row.reason = e.what();
    row.run_dir = item.dir;
  }
  run_log(fmt::format("{} #{}: {} ({})", sc.name, r, row.verdict, row.reason));
  return row;
}

// A run's row (new, or kept by a resume) in the suite's rows, the plan sheet and --stop-after-fail.
void Suite::note_row(const SuiteItem& item, const reports::RunRow& row) {
  rows_.push_back(row);
  if (item.scenario < c_.plan_rows.size()) fill_plan_row(c_.plan_rows[item.scenario], row);
  if (opts_.stop_after_fail && row.verdict == "fail" && !stopped_[item.scenario]) {
    run_log(fmt::format("{}: stopping its repetitions after the first failed verdict (--stop-after-fail)", item.name));
    stopped_[item.scenario] = true;
  }
}

bool Suite::after_run() {
  write_reports();
  if (!ledger_.entries().empty()) {
    std::cerr << fmt::format(
        "haverify: a fault could not be healed and stays in {}; stopping the suite. "
        "Fix the node, then run `haverify heal`, then `haverify run --resume {}`\n",
        ledger_.path(), out_);
    std::cout << "\n" << reports::summary_table(rows_);
    return false;
  }
  return true;
}

// results.csv, junit.xml, summary.json and the plan sheet from the rows so far, each written whole.
void Suite::write_reports() {
  reports::write_results_csv(out_ + "/results.csv", rows_);
  reports::write_junit_xml(out_ + "/junit.xml", suite_, rows_, skipped_);
  reports::write_summary_json(out_ + "/summary.json", {suite_, started_, out_}, rows_);
  write_plan_back();
}

void Suite::write_plan_back() {
  if (c_.plan_rows.empty()) return;
  std::vector<PlanRow> out;
  for (std::size_t i = 0; i < c_.plan_rows.size(); ++i)
    if (plan_in_shard_[i]) out.push_back(c_.plan_rows[i]);
  write_plan_csv(plan_out_, out);
}

// The plan sheet, report.html, the summary, the timing report; the exit code.
int Suite::finish() {
  if (!c_.plan_rows.empty()) {
    write_plan_back();
    std::cout << fmt::format("\nplan:    {}\n", plan_out_);
  }
  reports::write_report_html(out_ + "/report.html", {suite_, started_, out_}, rows_);
  std::cout << "\n" << reports::summary_table(rows_);
  std::cout << fmt::format("\nresults: {0}/results.csv\njunit:   {0}/junit.xml\n", out_)
            << fmt::format("summary: {0}/summary.json\nreport:  {0}/report.html\n", out_);
  if (std::any_of(c_.scenarios.begin(), c_.scenarios.end(),
                  [](const Scenario& s) { return s.kind == "switchover-timing"; })) {
    std::vector<reports::CompareRun> runs;
    for (const auto& r : rows_) runs.push_back(reports::to_compare_run(r));
    std::cout << "\n" << reports::write_timing_files(out_, runs) << fmt::format("\ntiming:  {}/timing.csv\n", out_);
  }
  if (cancel::requested()) {
    const auto left = ledger_.entries().size();
    if (left == 0)
      std::cerr << "haverify: " << cancel::reason() << "; every injected fault was healed\n";
    else
      std::cerr << fmt::format("haverify: {}; {} fault(s) could not be healed and stay in {}: run `haverify heal`\n",
                               cancel::reason(), left, ledger_.path());
    std::cerr << fmt::format("haverify: `haverify run --resume {}` finishes the suite\n", out_);
    return kExitHarness;
  }
  std::vector<std::string> verdicts;
  for (const auto& r : rows_) verdicts.push_back(r.verdict);
  return exit_code_for_verdicts(verdicts);
}

}  // namespace

int run_suite(const RunOptions& given, std::vector<reports::RunRow>* rows_out) {
  std::optional<SuiteManifest> resume;
  if (!given.resume_dir.empty() && !(resume = prepare_resume(given.resume_dir))) return kExitUsage;
  const RunOptions& opts = resume ? resume->options : given;
  SuiteConfig config = load_suite(opts, resume ? &*resume : nullptr);
  if (!config.errors.empty()) {
    for (const auto& e : config.errors) std::cerr << e << "\n";
    std::cerr << "haverify: nothing was run (configuration errors above)\n";
    return kExitUsage;
  }
  if (std::string problem = unhealed_faults_problem(opts.ledger_path); !problem.empty()) {
    std::cerr << "haverify: " << problem << "\n";
    return kExitHarness;
  }
  // A bad inventory never reaches a fault.
  auto problems = check_inventory(config.inv, {opts.ssh_check_deadline, &config.scenarios, opts.out_dir});
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "inventory " << config.inv.file << ": " << p << "\n";
    std::cerr << "haverify: nothing was run (fix the inventory or the nodes; `haverify inventory check` tells more)\n";
    return kExitUsage;
  }
  std::vector<reports::RunRow> own_rows;
  return Suite(opts, config, rows_out ? *rows_out : own_rows, resume ? &*resume : nullptr).run();
}

}  // namespace haverify
