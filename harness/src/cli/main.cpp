// haverify: thin CLI over haverify_core.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/io/csv_read.hpp"
#include "haverify/run/compare.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/runner.hpp"
#include "reports/comparison.hpp"
#include "reports/timing.hpp"

namespace fs = std::filesystem;
using namespace haverify;

namespace {

// The lab script finds the init binary built beside haverify through this.
void export_lab_init() {
  if (!std::getenv("HAVERIFY_LAB_INIT")) setenv("HAVERIFY_LAB_INIT", HAVERIFY_LAB_INIT_PATH, 1);
}

int lab_command(const std::vector<std::string>& args) {
  const std::string script = lab_script_path();
  export_lab_init();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(script.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(script.c_str(), argv.data());
  std::cerr << fmt::format("haverify lab: cannot run {}: {}\n", script, std::strerror(errno));
  return kExitHarness;
}

// Directories are searched recursively (`haverify validate scenarios/`).
int validate(const std::vector<std::string>& files) {
  int bad = 0;
  const auto expanded = expand_scenario_paths(files, /*recursive=*/true);
  if (expanded.empty()) {
    std::cerr << fmt::format("haverify validate: no .yaml/.yml file in {}\n", fmt::join(files, " "));
    return kExitUsage;
  }
  for (const auto& f : expanded) {
    try {
      YAML::Node root = load_yaml_file(f);
      if (root.IsMap() && root["nodes"]) {
        load_inventory(f);
        std::cout << f << ": inventory OK\n";
      } else {
        auto sc = load_scenario(f);
        std::cout << fmt::format("{}: scenario '{}' OK ({} steps, {} checks, repeat {})\n", f, sc.name, sc.steps.size(),
                                 sc.checks.size(), sc.repeat);
      }
    } catch (const ConfigError& e) {
      std::cerr << e.what() << "\n";
      ++bad;
    }
  }
  return bad ? kExitUsage : kExitPass;
}

int inventory_check(const std::string& file) {
  Inventory inv;
  try {
    inv = load_inventory(file);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
  auto problems = check_inventory(inv, std::chrono::milliseconds(5000));
  for (const auto& s : probe_all(inv, std::chrono::milliseconds(2000)))
    std::cout << fmt::format("node {:<10} postgres {:<8} {}\n", s.node, to_string(s.role), s.detail);
  for (const auto& p : problems) std::cerr << "problem: " << p << "\n";
  if (problems.empty())
    std::cout << fmt::format("{}: {} nodes reachable over SSH with verified host keys\n", file, inv.nodes.size());
  return problems.empty() ? kExitPass : kExitUsage;
}

int heal(const std::string& ledger_path) {
  faults::FaultLedger ledger(ledger_path.empty() ? faults::FaultLedger::default_path() : ledger_path);
  auto entries = ledger.entries();
  if (entries.empty()) {
    std::cout << fmt::format("fault ledger {}: nothing to heal\n", ledger.path());
    return kExitPass;
  }
  int failed = 0;
  for (const auto& e : entries) {
    std::string err = faults::heal_entry(e, std::chrono::milliseconds(30000));
    if (err.empty()) {
      ledger.remove(e.id);
      std::cout << fmt::format("healed: {} (injected {} by run {})\n", e.description, e.injected_at, e.run);
    } else {
      ++failed;
      std::cerr << err << "\n";
    }
  }
  return failed ? kExitHarness : kExitPass;
}

struct PlanCliOptions {
  std::string inventory;
  std::string out;
  std::string processes = "auto";
  bool force = false;
};

int plan_command(const std::string& kind, const PlanCliOptions& o) {
  Inventory inv;
  try {
    inv = load_inventory(o.inventory);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> processes;
  if (o.processes == "auto") {
    processes = stack_processes(inv);
  } else {
    std::stringstream ss(o.processes);
    for (std::string p; std::getline(ss, p, ',');) {
      if (!valid_process_selector(p)) {
        std::cerr << fmt::format("haverify plan: --stack-processes: unknown process '{}' (auto, or a list of {})\n", p,
                                 fmt::join(process_selectors(), ", "));
        return kExitUsage;
      }
      processes.push_back(p);
    }
  }
  const auto items = kind == "single-fault" ? single_fault_plan(inv, processes) : multi_fault_plan(inv, processes);
  const std::string dir = o.out.empty() ? fmt::format("plans/{}/{}", inv.name, kind) : o.out;
  try {
    write_plan(dir, items, inv, o.force);
  } catch (const std::exception& e) {
    std::cerr << "haverify plan: " << e.what() << "\n";
    return kExitUsage;
  }
  std::map<std::string, int> by_expected;
  for (const auto& it : items) ++by_expected[it.expected];
  std::string counts;
  for (const auto& [e, n] : by_expected) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, e);
  std::cout << fmt::format("{} {} item(s) for {} (stack {}, family {}, processes {}): {}\nsheet: {}/plan.csv\n",
                           items.size(), kind, inv.name, inv.stack, stack_family(inv), fmt::join(processes, ","),
                           counts, dir);
  return kExitPass;
}

int report_merge(const std::string& out, const std::vector<std::string>& inputs) {
  try {
    const auto n = reports::merge_csv_files(inputs, out);
    std::cout << fmt::format("{}: {} row(s) from {} file(s)\n", out, n, inputs.size());
    return kExitPass;
  } catch (const reports::CsvReadError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
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
    return kExitUsage;
  }
  if (runs.empty()) {
    std::cerr << "haverify report timing: the files hold no runs\n";
    return kExitUsage;
  }
  if (out.empty()) out = std::filesystem::path(inputs.front()).parent_path().string();
  if (out.empty()) out = ".";
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::cerr << fmt::format("haverify report timing: cannot create {}: {}\n", out, ec.message());
    return kExitUsage;
  }
  std::cout << reports::write_timing_files(out, runs) << fmt::format("\ntiming: {0}/timing.csv, {0}/timing.txt\n", out);
  return kExitPass;
}

// `haverify cluster status|switchover|rejoin|stop-node|start-node|rebuild|stop|start`:
// the cluster driver's planned operations, by hand (what the normal suite runs as steps).
int cluster_command(const std::string& file, const std::string& action, const std::string& node, int deadline_ms) {
  Inventory inv;
  try {
    inv = load_inventory(file);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
  const bool whole = action == "status" || action == "stop" || action == "start";
  if (!whole && !inv.node(node)) {
    std::cerr << fmt::format("haverify cluster {}: unknown node '{}' in {}\n", action, node, file);
    return kExitUsage;
  }
  const auto deadline = std::chrono::milliseconds(deadline_ms);
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{default_rejoin_script()});
  const auto t0 = std::chrono::steady_clock::now();
  try {
    if (action == "switchover") {
      driver->switchover(node, deadline);
    } else if (action == "rejoin") {
      std::string primary;
      for (const auto& s : driver->roles(std::chrono::milliseconds(5000)))
        if (s.role == Role::primary) primary = s.node;
      if (primary.empty()) throw std::runtime_error("the manager names no primary to rejoin to");
      driver->rejoin(node, primary, deadline);
    } else if (action == "stop-node") {
      driver->stop_node(node, deadline);
    } else if (action == "start-node") {
      driver->start_node(node, deadline);
    } else if (action == "rebuild") {
      driver->rebuild(node, deadline);
    } else if (action == "stop") {
      std::cout << fmt::format("stopped; the last primary was {}\n", driver->stop_cluster(deadline));
    } else if (action == "start") {
      std::cout << fmt::format("started; the primary is {}\n", driver->start_cluster(deadline));
    }
  } catch (const std::exception& e) {
    std::cerr << fmt::format("haverify cluster {}{}: {}\n", action, node.empty() ? "" : " " + node, e.what());
    return kExitVerdictFailed;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (action != "status")
    std::cout << fmt::format("{}{}: done in {:.2f} s\n", action, node.empty() ? "" : " " + node, secs);
  if (action == "stop") return kExitPass;  // nothing answers any more
  for (const auto& s : driver->roles(std::chrono::milliseconds(5000)))
    std::cout << fmt::format("{:<10} {:<8} {}\n", s.node, to_string(s.role), s.detail);
  if (action == "status") std::cout << driver->status_text(std::chrono::milliseconds(5000));
  return kExitPass;
}

}  // namespace

int main(int argc, char** argv) {
  // `haverify lab ...` hands every argument verbatim to lab/haverify-lab
  // (it has its own options, and `exec NODE -- CMD...`).
  if (argc >= 2 && std::string(argv[1]) == "lab") {
    std::vector<std::string> rest(argv + 2, argv + argc);
    if (rest.empty()) rest.push_back("--help");
    return lab_command(rest);
  }
  CLI::App app{"haverify: HA verification and fault injection for PostgreSQL clusters"};
  app.set_version_flag("--version", HAVERIFY_VERSION);
  app.require_subcommand(1);

  RunOptions ropts;
  std::uint64_t seed = 0;
  int fault_deadline_ms = 15000;
  auto* run = app.add_subcommand("run", "Run scenario files (or directories of them) against a cluster");
  run->add_option("scenario", ropts.scenario_paths, "scenario .yaml files or directories (or --plan)");
  run->add_option("--plan", ropts.plan_path, "run the rows of a plan sheet (plan.csv) and fill in its result columns");
  run->add_option("--plan-out", ropts.plan_out, "write the filled-in sheet here instead of over --plan");
  run->add_flag("--shuffle", ropts.shuffle, "run the items in an order drawn from the seed");
  std::string shard;
  run->add_option("--shard", shard, "i/n: run only the items at positions p (in the seeded order) with p % n == i-1");
  ropts.inventory_path = lab_inventory_path();
  run->add_option("--inventory,-i", ropts.inventory_path, "inventory file (default: the embedded lab's)");
  run->add_option("--seed", seed, "seed for random choices; recorded in every row");
  run->add_option("--out", ropts.out_dir, "output directory (default runs/<suite>/<timestamp>)");
  run->add_option("--ledger", ropts.ledger_path, "fault ledger file");
  run->add_flag("--stop-after-fail", ropts.stop_after_fail,
                "stop repeating a scenario at its first failed verdict (hunting a rare defect)");
  run->add_option("--repeat", ropts.repeat, "run every scenario this many times (overrides its repeat:)")
      ->check(CLI::Range(1, 100000));
  run->add_option("--fault-deadline-ms", fault_deadline_ms, "deadline for each inject/verify/heal command")
      ->check(CLI::Range(100, 600000));
  std::string duration;
  run->add_option("--duration", duration,
                  "length of every `soak` step (e.g. 2h, 30m): a long run from the shipped long-run scenarios")
      ->check([](const std::string& v) {
        auto d = parse_duration(v);
        return d && d->count() > 0 ? std::string() : std::string("expected a duration such as 90s, 30m or 2h");
      });

  CompareOptions copts;
  int lab_up_s = 1200, lab_down_s = 300;
  auto* cmp = app.add_subcommand(
      "compare", "Run one scenario N times against each stack of the lab (up, runs, down) and compare failover times");
  auto* cmp_scenario = cmp->add_option("--scenario", copts.scenario_path, "the scenario file");
  auto* cmp_stacks =
      cmp->add_option("--stacks", copts.stacks, "stacks to compare, comma-separated; the first is the baseline")
          ->delimiter(',');
  auto* cmp_profile = cmp->add_option("--profile", copts.profile, "lab profile for every stack (default|fast)");
  auto* cmp_n = cmp->add_option("-n", copts.n, "runs per stack (default 5)")->check(CLI::Range(1, 100000));
  cmp->add_option("--seed", copts.seed, "seed of the runs and of the bootstrap (default: from the clock; --from: 1)");
  cmp->add_option("--out", copts.out_dir, "output directory (default runs/compare/<timestamp>)");
  auto* cmp_lab = cmp->add_option("--lab", copts.lab_script, "the haverify-lab script (default: the source tree's)");
  auto* cmp_keep = cmp->add_flag("--keep-going", copts.keep_going,
                                 "go on with the next stack when one does not come up or its runs fail to run");
  auto* cmp_ledger = cmp->add_option("--ledger", copts.ledger_path, "fault ledger file");
  auto* cmp_fault_deadline =
      cmp->add_option("--fault-deadline-ms", fault_deadline_ms, "deadline for each inject/verify/heal command")
          ->check(CLI::Range(100, 600000));
  auto* cmp_up = cmp->add_option("--lab-up-timeout", lab_up_s, "seconds allowed for each `lab up` (default 1200)")
                     ->check(CLI::Range(10, 86400));
  auto* cmp_down =
      cmp->add_option("--lab-down-timeout", lab_down_s, "seconds allowed for each `lab down` (default 300)")
          ->check(CLI::Range(10, 86400));
  cmp->add_option("--from", copts.from,
                  "offline: compare existing results.csv files (comma-separated), grouped by scenario, stack, profile")
      ->delimiter(',')
      ->excludes(cmp_scenario, cmp_stacks, cmp_profile, cmp_n, cmp_lab, cmp_keep, cmp_ledger, cmp_fault_deadline,
                 cmp_up, cmp_down);

  std::vector<std::string> vfiles;
  auto* val = app.add_subcommand("validate", "Check scenario or inventory files; every error has file:line:col");
  val->add_option("files", vfiles, "files or directories")->required();

  std::string ledger_path;
  auto* healc = app.add_subcommand("heal", "Undo every fault still listed in the fault ledger");
  healc->add_option("--ledger", ledger_path, "fault ledger file");

  auto* inv = app.add_subcommand("inventory", "Inventory tools");
  inv->require_subcommand(1);
  std::string inv_file = lab_inventory_path();
  auto* invcheck = inv->add_subcommand("check", "Connect to every node and say what is wrong");
  invcheck->add_option("file", inv_file, "inventory file");

  PlanCliOptions popts;
  popts.inventory = lab_inventory_path();
  auto* planc = app.add_subcommand("plan", "Write a test plan: one scenario per fault and a sheet (plan.csv)");
  planc->require_subcommand(1);
  std::vector<CLI::App*> plan_kinds;
  for (const char* k : {"single-fault", "multi-fault"}) {
    auto* c = planc->add_subcommand(k, std::string(k) == "single-fault"
                                           ? "every single fault the inventory allows, on each role"
                                           : "every pair of single faults on different components, and named "
                                             "combinations");
    c->add_option("--inventory,-i", popts.inventory, "inventory file (default: the embedded lab's)");
    c->add_option("--out", popts.out, "folder for the scenarios and plan.csv (default plans/<inventory>/<kind>/)");
    c->add_option("--stack-processes", popts.processes,
                  "auto (from the driver / stack) or a comma-separated list of process selectors");
    c->add_flag("--force", popts.force, "replace an existing plan.csv (it may hold results)");
    plan_kinds.push_back(c);
  }

  auto* report = app.add_subcommand("report", "Report tools");
  report->require_subcommand(1);
  std::string merge_out;
  std::vector<std::string> merge_in;
  auto* merge = report->add_subcommand("merge", "Join results.csv (or plan.csv) files with the same header");
  merge->add_option("-o,--out", merge_out, "the merged file")->required();
  merge->add_option("files", merge_in, "CSV files")->required();
  std::string timing_out;
  std::vector<std::string> timing_in;
  auto* timing = report->add_subcommand(
      "timing", "Failover min/median/p95/max per condition (scenario) and the worst case, from results.csv files");
  timing->add_option("--out", timing_out, "folder for timing.csv and timing.txt (default: the first file's)");
  timing->add_option("files", timing_in, "results.csv files")->required()->check(CLI::ExistingFile);

  auto* clu = app.add_subcommand("cluster", "The cluster driver's planned operations");
  clu->require_subcommand(1);
  std::string clu_inv = lab_inventory_path(), clu_node;
  int clu_deadline_ms = 120000;
  auto* clu_status = clu->add_subcommand("status", "The manager's view of the roles and its status text");
  auto* clu_sw = clu->add_subcommand("switchover", "Planned switchover to NODE");
  auto* clu_rejoin = clu->add_subcommand("rejoin", "Bring NODE (a failed old primary) back as a standby");
  auto* clu_stop_node = clu->add_subcommand("stop-node", "Planned stop of the manager and PostgreSQL on NODE");
  auto* clu_start_node = clu->add_subcommand("start-node", "Start NODE again, until it is a healthy standby");
  auto* clu_rebuild = clu->add_subcommand("rebuild", "Re-create the standby NODE from a fresh base backup");
  auto* clu_stop = clu->add_subcommand("stop", "Stop every node, the standbys first and the primary last");
  auto* clu_start = clu->add_subcommand("start", "Start every node, the last primary first, until healthy");
  for (auto* c : {clu_status, clu_sw, clu_rejoin, clu_stop_node, clu_start_node, clu_rebuild, clu_stop, clu_start}) {
    c->add_option("--inventory,-i", clu_inv, "inventory file (default: the embedded lab's)");
    c->add_option("--deadline-ms", clu_deadline_ms, "deadline of the operation")->check(CLI::Range(1000, 3600000));
  }
  clu_sw->add_option("--to", clu_node, "the node to promote")->required();
  clu_rejoin->add_option("node", clu_node, "the node to rejoin")->required();
  clu_stop_node->add_option("node", clu_node, "the node to stop")->required();
  clu_start_node->add_option("node", clu_node, "the node to start")->required();
  clu_rebuild->add_option("node", clu_node, "the standby to rebuild")->required();

  // Listed for --help only; main() hands `lab` to the lab script before parsing.
  app.add_subcommand("lab",
                     "The embedded lab: up --stack pgpool|pgrex|shared-disk|patroni [--profile fast] | down | status | "
                     "power-off NODE | power-on NODE | exec NODE -- CMD");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  cancel::install_signal_thread();
  try {
    if (*run) {
      if (!shard.empty()) {
        std::string err;
        auto sh = parse_shard(shard, &err);
        if (!sh) {
          std::cerr << "haverify run: " << err << "\n";
          return kExitUsage;
        }
        ropts.shard_index = sh->first;
        ropts.shard_count = sh->second;
      }
      ropts.seed = seed;
      ropts.fault_deadline = std::chrono::milliseconds(fault_deadline_ms);
      if (!duration.empty()) ropts.duration = parse_duration(duration);
      return run_suite(ropts);
    }
    if (*cmp) {
      export_lab_init();
      copts.fault_deadline = std::chrono::milliseconds(fault_deadline_ms);
      copts.lab_up_deadline = std::chrono::seconds(lab_up_s);
      copts.lab_down_deadline = std::chrono::seconds(lab_down_s);
      return run_compare(copts);
    }
    if (*val) return validate(vfiles);
    for (auto* k : plan_kinds)
      if (*k) return plan_command(k->get_name(), popts);
    if (*merge) return report_merge(merge_out, merge_in);
    if (*timing) return report_timing(timing_out, timing_in);
    if (*healc) return heal(ledger_path);
    if (*invcheck) return inventory_check(inv_file);
    if (*clu_status) return cluster_command(clu_inv, "status", "", clu_deadline_ms);
    if (*clu_sw) return cluster_command(clu_inv, "switchover", clu_node, clu_deadline_ms);
    if (*clu_rejoin) return cluster_command(clu_inv, "rejoin", clu_node, clu_deadline_ms);
    if (*clu_stop_node) return cluster_command(clu_inv, "stop-node", clu_node, clu_deadline_ms);
    if (*clu_start_node) return cluster_command(clu_inv, "start-node", clu_node, clu_deadline_ms);
    if (*clu_rebuild) return cluster_command(clu_inv, "rebuild", clu_node, clu_deadline_ms);
    if (*clu_stop) return cluster_command(clu_inv, "stop", "", clu_deadline_ms);
    if (*clu_start) return cluster_command(clu_inv, "start", "", clu_deadline_ms);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "haverify: internal error: " << e.what() << "\n";
    return kExitHarness;
  }
  return kExitUsage;
}
