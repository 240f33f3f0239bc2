// haverify: thin CLI over haverify_core.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "faults/ledger.hpp"
#include "haverify/cancel.hpp"
#include "haverify/config_reader.hpp"
#include "haverify/driver.hpp"
#include "haverify/inventory.hpp"
#include "haverify/runner.hpp"
#include "haverify/scenario.hpp"

namespace fs = std::filesystem;
using namespace haverify;

namespace {

std::string lab_dir() {
  if (const char* d = std::getenv("HAVERIFY_LAB_DIR"); d && *d) return d;
  return std::string(HAVERIFY_SOURCE_DIR) + "/lab";
}

std::string default_inventory() {
  const char* s = std::getenv("HAVERIFY_LAB_STATE");
  return std::string(s && *s ? s : "/var/lib/haverify-lab") + "/inventory.yaml";
}

int lab_command(const std::vector<std::string>& args) {
  const std::string script = lab_dir() + "/haverify-lab";
  if (!std::getenv("HAVERIFY_LAB_INIT")) setenv("HAVERIFY_LAB_INIT", HAVERIFY_LAB_INIT_PATH, 1);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(script.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(script.c_str(), argv.data());
  std::cerr << fmt::format("haverify lab: cannot run {}: {}\n", script, std::strerror(errno));
  return kExitHarness;
}

int validate(const std::vector<std::string>& files) {
  int bad = 0;
  for (const auto& f : expand_scenario_paths(files)) {
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
  run->add_option("scenario", ropts.scenario_paths, "scenario .yaml files or directories")->required();
  ropts.inventory_path = default_inventory();
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

  std::vector<std::string> vfiles;
  auto* val = app.add_subcommand("validate", "Check scenario or inventory files; every error has file:line:col");
  val->add_option("files", vfiles, "files or directories")->required();

  std::string ledger_path;
  auto* healc = app.add_subcommand("heal", "Undo every fault still listed in the fault ledger");
  healc->add_option("--ledger", ledger_path, "fault ledger file");

  auto* inv = app.add_subcommand("inventory", "Inventory tools");
  inv->require_subcommand(1);
  std::string inv_file = default_inventory();
  auto* invcheck = inv->add_subcommand("check", "Connect to every node and say what is wrong");
  invcheck->add_option("file", inv_file, "inventory file");

  // Listed for --help only; main() hands `lab` to the lab script before parsing.
  app.add_subcommand(
      "lab", "The embedded lab: up --stack pgpool | down | status | power-off NODE | power-on NODE | exec NODE -- CMD");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  cancel::install_signal_thread();
  try {
    if (*run) {
      ropts.seed = seed;
      ropts.fault_deadline = std::chrono::milliseconds(fault_deadline_ms);
      if (!duration.empty()) ropts.duration = parse_duration(duration);
      return run_suite(ropts);
    }
    if (*val) return validate(vfiles);
    if (*healc) return heal(ledger_path);
    if (*invcheck) return inventory_check(inv_file);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "haverify: internal error: " << e.what() << "\n";
    return kExitHarness;
  }
  return kExitUsage;
}
