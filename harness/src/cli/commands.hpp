#pragma once
// The command groups of the haverify CLI (CLI11 wiring only; the work is in
// the haverify_core library). Each add_* declares one subcommand, its flags
// and help text, and what runs when it was given; main() adds them in the
// order `haverify --help` lists them and maps any exception to its exit
// code (core/errors.hpp).
#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

#include "haverify/core/errors.hpp"

namespace haverify::cli {

// A (sub)command and what runs when it was given: returns the exit code.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// run_commands.cpp: run, validate, plan single-fault|multi-fault
void add_run(CLI::App& app, Commands& out);
void add_validate(CLI::App& app, Commands& out);
void add_plan(CLI::App& app, Commands& out);

// report_commands.cpp: compare, report merge|timing
void add_compare(CLI::App& app, Commands& out);
void add_report(CLI::App& app, Commands& out);

// inventory_commands.cpp: heal, inventory check
void add_heal(CLI::App& app, Commands& out);
void add_inventory(CLI::App& app, Commands& out);

// cluster_commands.cpp: cluster status|switchover|rejoin|...
void add_cluster(CLI::App& app, Commands& out);
// `haverify collect`: the nodes' log slices by hand (collect_command.cpp).
void add_collect(CLI::App& app, Commands& out);

// lab_command.cpp: `haverify lab ...` goes verbatim to lab/haverify-lab.
bool is_lab_command(int argc, char** argv);
int lab_command(int argc, char** argv);  // returns only when the script cannot be run
void add_lab_help(CLI::App& app);        // listed for --help only
// The lab script finds the init binary built beside haverify through
// HAVERIFY_LAB_INIT.
void export_lab_init();

}  // namespace haverify::cli
