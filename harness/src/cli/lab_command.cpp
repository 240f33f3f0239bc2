// `haverify lab ...`: every argument goes verbatim to lab/haverify-lab (it has
// its own options, and `exec NODE -- CMD...`).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "haverify/run/lab.hpp"

namespace haverify::cli {

// The lab's helper binaries for the lab script: installed next to haverify
// (the .deb), else the build's own haverify-lab-init (the lab script finds
// build/lab/haverify-lab-disk itself).
void export_lab_init() {
  if (!std::getenv("HAVERIFY_LAB_INIT")) {
    const std::string installed = installed_helper("haverify-lab-init");
    setenv("HAVERIFY_LAB_INIT", installed.empty() ? HAVERIFY_LAB_INIT_PATH : installed.c_str(), 1);
  }
  if (const std::string disk = installed_helper("haverify-lab-disk");
      !disk.empty() && !std::getenv("HAVERIFY_LAB_DISK"))
    setenv("HAVERIFY_LAB_DISK", disk.c_str(), 1);
}

bool is_lab_command(int argc, char** argv) {
  return argc >= 2 && std::string(argv[1]) == "lab";
}

int lab_command(int argc, char** argv) {
  std::vector<std::string> args(argv + 2, argv + argc);
  if (args.empty()) args.push_back("--help");
  const std::string script = lab_script_path();
  export_lab_init();
  std::vector<char*> script_argv;
  script_argv.push_back(const_cast<char*>(script.c_str()));
  for (const auto& a : args) script_argv.push_back(const_cast<char*>(a.c_str()));
  script_argv.push_back(nullptr);
  execv(script.c_str(), script_argv.data());
  std::cerr << fmt::format("haverify lab: cannot run {}: {}\n", script, std::strerror(errno));
  return exit_code(ExitStatus::harness);
}

void add_lab_help(CLI::App& app) {
  // main() hands `lab` to the lab script before parsing.
  app.add_subcommand(
      "lab",
      "The embedded lab: up --stack pgpool|pgpool-wd|pgrex|shared-disk|patroni [--profile fast] [--disk PROFILE] "
      "[--fence on|off] [--endpoint vip|dns] [--pg-set K=V]... [--pool-set K=V]... | "
      "down | status | "
      "power-off NODE | power-on NODE | exec NODE -- CMD");
}

}  // namespace haverify::cli
