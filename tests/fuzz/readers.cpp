#include "readers.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "faults/ledger.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/io/csv_read.hpp"
#include "reports/comparison.hpp"

namespace haverify::fuzz {

namespace fs = std::filesystem;

namespace {

// The readers of CSV sheets take a path: each input is written to a file in
// this process's own folder, removed when the process exits.
class Scratch {
 public:
  Scratch() : dir_(fs::temp_directory_path() / ("haverify-fuzz-" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    // The scenario a plan row names (scenario_file `s.yaml`): a shipped one.
    fs::copy_file(fs::path(HAVERIFY_SOURCE_DIR) / "scenarios/single-fault/kill-postmaster-primary.yaml",
                  dir_ / "s.yaml", fs::copy_options::overwrite_existing);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::string write(const std::string& name, const std::string& data) const {
    const auto path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.flush()) throw std::runtime_error("fuzz: cannot write " + path);
    return path;
  }

 private:
  fs::path dir_;
};

const Scratch& scratch() {
  static const Scratch s;
  return s;
}

// Runs a reader: a usage error is a refusal; anything else escapes.
template <typename F>
Outcome outcome_of(F&& read) {
  try {
    read();
    return Outcome::parsed;
  } catch (const UsageError&) {
    return Outcome::refused;
  }
}

Outcome read_scenario(const std::string& data) {
  return outcome_of([&] { parse_scenario(data, "fuzz-scenario.yaml"); });
}

Outcome read_inventory(const std::string& data) {
  return outcome_of([&] { parse_inventory(data, "fuzz-inventory.yaml"); });
}

Outcome read_plan_csv(const std::string& data) {
  const auto path = scratch().write("plan.csv", data);
  std::vector<Scenario> scenarios;
  return outcome_of([&] { haverify::read_plan_csv(path, &scenarios); });
}

Outcome read_results_csv(const std::string& data) {
  const auto path = scratch().write("results.csv", data);
  const Outcome table = outcome_of([&] { reports::read_csv_table(path); });   // `report merge`
  const Outcome runs = outcome_of([&] { reports::read_results_csv(path); });  // `compare --from`, `report timing`
  return table == Outcome::parsed && runs == Outcome::parsed ? Outcome::parsed : Outcome::refused;
}

// A ledger entry that is not valid is a refusal, as FaultLedger::entries() has it.
Outcome read_ledger(const std::string& data) {
  bool valid = false;
  const Outcome o = outcome_of([&] { valid = faults::parse_ledger(data, "fuzz-ledger.json").invalid.empty(); });
  return o == Outcome::parsed && !valid ? Outcome::refused : o;
}

}  // namespace

const std::vector<Reader>& readers() {
  static const std::vector<Reader> all = {{"scenario", read_scenario},
                                          {"inventory", read_inventory},
                                          {"plan_csv", read_plan_csv},
                                          {"results_csv", read_results_csv},
                                          {"ledger", read_ledger}};
  return all;
}

const Reader* find_reader(std::string_view name) {
  for (const auto& r : readers())
    if (name == r.name) return &r;
  return nullptr;
}

}  // namespace haverify::fuzz
