// `haverify run`, `haverify validate` and `haverify plan single-fault|multi-fault`.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/runner.hpp"

namespace haverify::cli {

namespace {

// `haverify run`: RunOptions plus the flags that are parsed after CLI11.
struct RunCli {
  RunOptions options;
  std::uint64_t seed = 0;
  int fault_deadline_ms = 15000;
  int progress_every_s = 10;
  std::string shard;
  std::string duration;
};

int run_command(RunCli& c) {
  RunOptions& o = c.options;
  if (!c.shard.empty()) {
    std::string err;
    auto sh = parse_shard(c.shard, &err);
    if (!sh) {
      std::cerr << "haverify run: " << err << "\n";
      return exit_code(ExitStatus::usage);
    }
    o.shard_index = sh->first;
    o.shard_count = sh->second;
  }
  o.seed = c.seed;
  o.fault_deadline = std::chrono::milliseconds(c.fault_deadline_ms);
  o.progress_every = std::chrono::seconds(c.progress_every_s);
  if (!c.duration.empty()) o.duration = parse_duration(c.duration);
  cancel::cooperate();  // the suite heals on Ctrl-C
  return run_suite(o);
}

// Directories are searched recursively (`haverify validate scenarios/`).
int validate(const std::vector<std::string>& files) {
  int bad = 0;
  const auto expanded = expand_scenario_paths(files, /*recursive=*/true);
  if (expanded.empty()) {
    std::cerr << fmt::format("haverify validate: no .yaml/.yml file in {}\n", fmt::join(files, " "));
    return exit_code(ExitStatus::usage);
  }
  for (const auto& f : expanded) {
    try {
      const YAML::Node root = load_yaml_file(f);
      if (root.IsMap() && root["nodes"].IsDefined()) {
        load_inventory(f);
        std::cout << f << ": inventory OK\n";
      } else {
        auto sc = load_scenario(f);
        std::cout << fmt::format("{}: scenario '{}' OK ({} steps, {} checks, repeat {})\n", f, sc.name, sc.steps.size(),
                                 sc.checks.size(), sc.repeat);
      }
    } catch (const UsageError& e) {
      std::cerr << e.what() << "\n";  // reported; the other files are still checked
      ++bad;
    }
  }
  return exit_code(bad ? ExitStatus::usage : ExitStatus::pass);
}

struct PlanCli {
  std::string inventory = lab_inventory_path();
  std::string out;
  std::string processes = "auto";
  bool force = false;
};

// --stack-processes: auto (from the driver / stack) or a list of selectors;
// nullopt (after saying why) for an unknown selector.
std::optional<std::vector<std::string>> plan_processes(const Inventory& inv, const std::string& spec) {
  if (spec == "auto") return stack_processes(inv);
  std::vector<std::string> processes;
  std::stringstream ss(spec);
  for (std::string p; std::getline(ss, p, ',');) {
    if (!valid_process_selector(p)) {
      std::cerr << fmt::format("haverify plan: --stack-processes: unknown process '{}' (auto, or a list of {})\n", p,
                               fmt::join(process_selectors(), ", "));
      return std::nullopt;
    }
    processes.push_back(p);
  }
  return processes;
}

// "3 failover, 2 no-failover": the items per expected outcome.
std::string expected_counts(const std::vector<PlanItem>& items) {
  std::map<std::string, int> by_expected;
  for (const auto& it : items) ++by_expected[it.expected];
  std::string counts;
  for (const auto& [e, n] : by_expected) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, e);
  return counts;
}

int plan_command(const std::string& kind, const PlanCli& o) {
  const Inventory inv = load_inventory(o.inventory);
  const auto processes = plan_processes(inv, o.processes);
  if (!processes) return exit_code(ExitStatus::usage);
  const auto items = kind == "single-fault" ? single_fault_plan(inv, *processes) : multi_fault_plan(inv, *processes);
  const std::string dir = o.out.empty() ? fmt::format("plans/{}/{}", inv.name, kind) : o.out;
  try {
    write_plan(dir, items, inv, o.force);
  } catch (const std::exception& e) {
    std::cerr << "haverify plan: " << e.what() << "\n";
    return exit_code(ExitStatus::usage);
  }
  std::cout << fmt::format("{} {} item(s) for {} (stack {}, family {}, processes {}): {}\nsheet: {}/plan.csv\n",
                           items.size(), kind, inv.name, inv.stack, stack_family(inv), fmt::join(*processes, ","),
                           expected_counts(items), dir);
  return exit_code(ExitStatus::pass);
}

}  // namespace

void add_run(CLI::App& app, Commands& out) {
  auto c = std::make_shared<RunCli>();
  RunOptions& o = c->options;
  auto* run = app.add_subcommand("run", "Run scenario files (or directories of them) against a cluster");
  run->add_option("scenario", o.scenario_paths, "scenario .yaml files or directories (or --plan)");
  run->add_option("--plan", o.plan_path, "run the rows of a plan sheet (plan.csv) and fill in its result columns");
  run->add_option("--plan-out", o.plan_out, "write the filled-in sheet here instead of over --plan");
  run->add_flag("--shuffle", o.shuffle, "run the items in an order drawn from the seed");
  run->add_flag("--repair-at-setup", o.repair_at_setup,
                "repair a cluster that is unhealthy before a run's steps (power-on, rejoin, unblock; noted in the "
                "row) instead of failing the run");
  run->add_option("--shard", c->shard,
                  "i/n: run only the items at positions p (in the seeded order) with p % n == i-1");
  o.inventory_path = lab_inventory_path();
  run->add_option("--inventory,-i", o.inventory_path, "inventory file (default: the embedded lab's)");
  run->add_option("--seed", c->seed, "seed for random choices; recorded in every row");
  run->add_option("--out", o.out_dir, "output directory (default runs/<suite>/<timestamp>)");
  run->add_option("--ledger", o.ledger_path, "fault ledger file");
  run->add_flag("--stop-after-fail", o.stop_after_fail,
                "stop repeating a scenario at its first failed verdict (hunting a rare defect)");
  run->add_option("--repeat", o.repeat, "run every scenario this many times (overrides its repeat:)")
      ->check(CLI::Range(1, 100000));
  run->add_option("--fault-deadline-ms", c->fault_deadline_ms, "deadline for each inject/verify/heal command")
      ->check(CLI::Range(100, 600000));
  run->add_option("--duration", c->duration,
                  "length of every `soak` step (e.g. 2h, 30m): a long run from the shipped long-run scenarios")
      ->check([](const std::string& v) {
        auto d = parse_duration(v);
        return d && d->count() > 0 ? std::string() : std::string("expected a duration such as 90s, 30m or 2h");
      });
  // --resume takes every option from DIR/suite.json: any other is a usage error.
  auto* resume = run->add_option("--resume", o.resume_dir,
                                 "finish the suite in DIR after a crash (kill -9, power loss): keep its complete "
                                 "rows, run the rest; run `haverify heal` first");
  for (auto* other : run->get_options())
    if (other != resume && other != run->get_help_ptr()) resume->excludes(other);
  // How the run shows its progress (also with --resume).
  run->add_option("--progress", o.progress,
                  "auto: a live line on a terminal (step, elapsed, acked writes/s, roles, faults), else plain lines; "
                  "plain; off")
      ->check(CLI::IsMember({"auto", "plain", "off"}));
  run->add_option("--progress-every", c->progress_every_s, "seconds between plain progress lines")
      ->check(CLI::Range(1, 3600));
  run->add_option("--collect-logs", o.collect_logs,
                  "failed (default): each node's log slices covering a run that did not pass, in its logs/; always; "
                  "never")
      ->check(CLI::IsMember({"failed", "always", "never"}));
  out.push_back({run, [c] { return run_command(*c); }});
}

void add_validate(CLI::App& app, Commands& out) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto* val = app.add_subcommand("validate", "Check scenario or inventory files; every error has file:line:col");
  val->add_option("files", *files, "files or directories")->required();
  out.push_back({val, [files] { return validate(*files); }});
}

void add_plan(CLI::App& app, Commands& out) {
  auto o = std::make_shared<PlanCli>();
  auto* planc = app.add_subcommand("plan", "Write a test plan: one scenario per fault and a sheet (plan.csv)");
  planc->require_subcommand(1);
  for (const char* k : {"single-fault", "multi-fault"}) {
    auto* c = planc->add_subcommand(k, std::string(k) == "single-fault"
                                           ? "every single fault the inventory allows, on each role"
                                           : "every pair of single faults on different components, and named "
                                             "combinations");
    c->add_option("--inventory,-i", o->inventory, "inventory file (default: the embedded lab's)");
    c->add_option("--out", o->out, "folder for the scenarios and plan.csv (default plans/<inventory>/<kind>/)");
    c->add_option("--stack-processes", o->processes,
                  "auto (from the driver / stack) or a comma-separated list of process selectors");
    c->add_flag("--force", o->force, "replace an existing plan.csv (it may hold results)");
    out.push_back({c, [o, kind = std::string(k)] { return plan_command(kind, *o); }});
  }
}

}  // namespace haverify::cli
