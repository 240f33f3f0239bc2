#include "haverify/run/suite_manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/atomic_file.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/run/preflight.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace haverify {

namespace {

constexpr int kManifestVersion = 1;

json options_json(const RunOptions& o) {
  return json{{"inventory", o.inventory_path},
              {"scenarios", o.scenario_paths},
              {"plan", o.plan_path},
              {"plan_out", o.plan_out},
              {"ledger", o.ledger_path},
              {"repeat", o.repeat},
              {"stop_after_fail", o.stop_after_fail},
              {"duration_ms", o.duration ? json(o.duration->count()) : json(nullptr)},
              {"fault_deadline_ms", o.fault_deadline.count()},
              {"rejoin_script", o.rejoin_script},
              {"repair_at_setup", o.repair_at_setup},
              {"shuffle", o.shuffle},
              {"shard", {o.shard_index, o.shard_count}}};
}

RunOptions options_from(const json& j) {
  RunOptions o;
  o.inventory_path = j.at("inventory").get<std::string>();
  o.scenario_paths = j.at("scenarios").get<std::vector<std::string>>();
  o.plan_path = j.at("plan").get<std::string>();
  o.plan_out = j.at("plan_out").get<std::string>();
  o.ledger_path = j.at("ledger").get<std::string>();
  o.repeat = j.at("repeat").get<int>();
  o.stop_after_fail = j.at("stop_after_fail").get<bool>();
  if (!j.at("duration_ms").is_null()) o.duration = std::chrono::milliseconds(j.at("duration_ms").get<std::int64_t>());
  o.fault_deadline = std::chrono::milliseconds(j.at("fault_deadline_ms").get<std::int64_t>());
  o.rejoin_script = j.at("rejoin_script").get<std::string>();
  o.repair_at_setup = j.at("repair_at_setup").get<bool>();
  o.shuffle = j.at("shuffle").get<bool>();
  o.shard_index = j.at("shard").at(0).get<int>();
  o.shard_count = j.at("shard").at(1).get<int>();
  return o;
}

}  // namespace

void write_suite_manifest(const SuiteManifest& m) {
  json items = json::array();
  for (const auto& it : m.items)
    items.push_back(json{{"scenario", it.name},
                         {"scenario_index", it.scenario},
                         {"repetition", it.repetition},
                         {"position", it.position},
                         {"dir", it.dir}});
  const json j{{"haverify_suite", kManifestVersion},
               {"started", m.started.empty() ? format_wall_ns(wall_now_ns()) : m.started},
               {"cwd", m.cwd},
               {"suite", m.suite},
               {"out", m.out},
               {"seed", m.seed},
               {"options", options_json(m.options)},
               {"plan_base", m.plan_base},
               {"items", items}};
  write_file_atomic(m.out + "/" + kSuiteManifestFile, j.dump(2) + "\n");
}

SuiteManifest read_suite_manifest(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw UsageError(fmt::format("{}: not a directory (give the suite's output directory, the one with {})", dir,
                                 kSuiteManifestFile));
  const std::string path = dir + "/" + kSuiteManifestFile;
  std::ifstream in(path);
  if (!in)
    throw UsageError(fmt::format(
        "{}: missing: nothing to resume. Either {} is not a suite's output directory, or the suite was killed "
        "before its first run (start it again without --resume)",
        path, dir));
  SuiteManifest m;
  m.dir = dir;
  try {
    const json j = json::parse(in);
    if (j.at("haverify_suite").get<int>() != kManifestVersion)
      throw std::invalid_argument(
          fmt::format("version {} (this haverify reads {})", j.at("haverify_suite").dump(), kManifestVersion));
    m.cwd = j.at("cwd").get<std::string>();
    m.suite = j.at("suite").get<std::string>();
    m.out = j.at("out").get<std::string>();
    m.started = j.value("started", std::string());
    m.seed = j.at("seed").get<std::uint64_t>();
    m.options = options_from(j.at("options"));
    m.options.seed = m.seed;
    m.options.out_dir = m.out;
    m.plan_base = j.at("plan_base").get<std::string>();
    for (const auto& x : j.at("items"))
      m.items.push_back(SuiteItem{x.at("scenario_index").get<std::size_t>(), x.at("repetition").get<int>(),
                                  x.at("position").get<std::size_t>(), x.at("scenario").get<std::string>(),
                                  x.at("dir").get<std::string>()});
  } catch (const std::exception& e) {  // json parse/type/out_of_range errors, a wrong version
    throw UsageError(fmt::format("{}: not a suite manifest this haverify can resume: {}", path, e.what()));
  }
  return m;
}

std::string items_mismatch(const std::vector<SuiteItem>& recorded, const std::vector<SuiteItem>& now) {
  const auto describe = [](const SuiteItem& it) {
    return fmt::format("{} #{} at position {} ({})", it.name, it.repetition, it.position, it.dir);
  };
  for (std::size_t i = 0; i < std::max(recorded.size(), now.size()); ++i) {
    if (i >= recorded.size()) return fmt::format("run {} is new: {}", i + 1, describe(now[i]));
    if (i >= now.size()) return fmt::format("run {} is gone: {}", i + 1, describe(recorded[i]));
    const auto& a = recorded[i];
    const auto& b = now[i];
    if (a.name != b.name || a.repetition != b.repetition || a.position != b.position || a.dir != b.dir ||
        a.scenario != b.scenario)
      return fmt::format("run {} was {}, is now {}", i + 1, describe(a), describe(b));
  }
  return {};
}

std::string move_aside(const std::string& out, const std::string& run_dir) {
  const fs::path base = fs::path(out) / kInterruptedDir;
  fs::create_directories(base);
  const std::string name = fs::path(run_dir).filename().string();
  fs::path to = base / name;
  for (int n = 2; fs::exists(to); ++n) to = base / fmt::format("{}.{}", name, n);
  fs::rename(run_dir, to);
  return to.string();
}

std::optional<SuiteManifest> prepare_resume(const std::string& dir) {
  SuiteManifest m;
  try {
    m = read_suite_manifest(dir);
  } catch (const UsageError& e) {
    std::cerr << "haverify run --resume: " << e.what() << "\n";
    return std::nullopt;
  }
  std::error_code ec;
  const auto here = fs::absolute(dir, ec);
  fs::current_path(m.cwd, ec);
  if (ec) {
    std::cerr << fmt::format("haverify run --resume: cannot enter the suite's working directory {}: {}\n", m.cwd,
                             ec.message());
    return std::nullopt;
  }
  if (!fs::exists(m.out) || !fs::equivalent(m.out, here, ec)) {
    std::cerr << fmt::format("haverify run --resume: {} says the suite's directory is {} (from {}), not {}\n",
                             kSuiteManifestFile, m.out, m.cwd, here.string());
    return std::nullopt;
  }
  m.dir = m.out;
  if (std::string problem = unhealed_faults_problem(m.options.ledger_path); !problem.empty()) {
    std::cerr << fmt::format("haverify run --resume: {}: `haverify heal --ledger {}`, then resume\n", problem,
                             m.options.ledger_path);
    return std::nullopt;
  }
  return m;
}

}  // namespace haverify
