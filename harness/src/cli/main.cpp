// haverify: thin CLI over haverify_core. The subcommands are in one file per
// command group (commands.hpp); this file parses and maps every exception to
// its exit code (core/errors.hpp).
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/errors.hpp"

using namespace haverify;

namespace {

// The subcommands in the order `haverify --help` lists them.
cli::Commands add_commands(CLI::App& app) {
  cli::Commands commands;
  cli::add_run(app, commands);
  cli::add_compare(app, commands);
  cli::add_validate(app, commands);
  cli::add_heal(app, commands);
  cli::add_inventory(app, commands);
  cli::add_plan(app, commands);
  cli::add_report(app, commands);
  cli::add_cluster(app, commands);
  cli::add_collect(app, commands);
  cli::add_lab_help(app);
  return commands;
}

// Runs the command that was given. An exception is a usage/config error
// (exit 2, its text as is) or a harness failure (exit 3).
int run_given(const cli::Commands& commands) {
  try {
    for (const auto& c : commands)
      if (*c.app) return c.run();
  } catch (const std::exception& e) {
    const ExitStatus status = exit_status_of(e);
    if (status == ExitStatus::usage)
      std::cerr << e.what() << "\n";
    else
      std::cerr << "haverify: internal error: " << e.what() << "\n";
    return exit_code(status);
  }
  return exit_code(ExitStatus::usage);
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::is_lab_command(argc, argv)) return cli::lab_command(argc, argv);
  CLI::App app{"haverify: HA verification and fault injection for PostgreSQL clusters"};
  app.set_version_flag("--version", HAVERIFY_VERSION);
  app.require_subcommand(1);
  const cli::Commands commands = add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code(ExitStatus::usage);
  }
  cancel::install_signal_thread();
  return run_given(commands);
}
