#include "haverify/run/lab.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/core/cancel.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

namespace {

// The directory of the running executable ("" if /proc/self/exe is unreadable).
std::filesystem::path exe_dir() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : p.parent_path();
}

}  // namespace

std::string data_dir() {
  if (const char* d = std::getenv("HAVERIFY_DATA_DIR"); d && *d) return d;
  std::error_code ec;
  if (const auto e = exe_dir(); !e.empty()) {
    const auto installed = (e / ".." / "share" / "haverify").lexically_normal();
    if (std::filesystem::is_regular_file(installed / "lab" / "haverify-lab", ec)) return installed.string();
  }
  return HAVERIFY_SOURCE_DIR;
}

std::string installed_helper(const std::string& name) {
  std::error_code ec;
  const auto e = exe_dir();
  if (e.empty()) return {};
  const auto p = (e / ".." / "lib" / "haverify" / name).lexically_normal();
  return std::filesystem::is_regular_file(p, ec) ? p.string() : std::string();
}

std::string lab_dir() {
  if (const char* d = std::getenv("HAVERIFY_LAB_DIR"); d && *d) return d;
  return data_dir() + "/lab";
}

std::string lab_script_path() {
  return lab_dir() + "/haverify-lab";
}

std::string rejoin_script_for(const Inventory& inv) {
  // The pacemaker driver's rejoin_script is its own node-side script.
  if (inv.driver.type != "pacemaker" && !inv.driver.rejoin_script.empty()) return inv.driver.rejoin_script;
  return lab_dir() + "/scripts/pg-rejoin.sh";
}

std::string lab_state_dir() {
  const char* s = std::getenv("HAVERIFY_LAB_STATE");
  return s && *s ? s : "/var/lib/haverify-lab";
}

std::string lab_inventory_path() {
  return lab_state_dir() + "/inventory.yaml";
}

bool lab_is_up(const std::string& state_dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(state_dir) / "lab.env", ec);
}

ExecResult run_lab_script(const std::vector<std::string>& args, const LabScriptOptions& opts) {
  std::ofstream log(opts.log_path, std::ios::app | std::ios::binary);
  if (!log) throw std::runtime_error(fmt::format("cannot write the lab log {}", opts.log_path));
  std::string command = sh_quote(opts.script);
  for (const auto& a : args) command += " " + sh_quote(a);
  if (!opts.state_dir.empty()) command = "HAVERIFY_LAB_STATE=" + sh_quote(opts.state_dir) + " " + command;
  log << fmt::format("$ {}\n", command) << std::flush;
  LocalTransport::Hooks hooks;
  hooks.on_output = [&log](std::string_view chunk) {
    log.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    log.flush();
    std::cout.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    std::cout.flush();
  };
  if (opts.interruptible) hooks.interrupted = [] { return cancel::requested(); };
  ExecResult r = LocalTransport(std::move(hooks)).exec(command, opts.deadline);
  // The output went to the log and stdout as it came: the result carries the
  // outcome only (describe(r) is "exit 1", not the script's whole stderr).
  r.out.clear();
  r.err.clear();
  log << fmt::format("# {} after {} ms\n", r.ok() ? "exit 0" : describe(r), r.elapsed.count());
  return r;
}

}  // namespace haverify
