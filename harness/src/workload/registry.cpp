// make_workload: the workloads by name, each built from the scenario's options.
#include <algorithm>
#include <functional>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/cluster/driver.hpp"
#include "haverify/workload/ledger.hpp"
#include "haverify/workload/maintenance.hpp"
#include "haverify/workload/reads.hpp"
#include "haverify/workload/workload.hpp"
#include "haverify/workload/workload_bank.hpp"

namespace haverify {

namespace {

using Factory = std::function<std::unique_ptr<Workload>(const WorkloadSettings&, History&)>;

struct Registered {
  std::string name;
  Factory make;
};

const std::vector<Registered>& registry() {
  static const std::vector<Registered> r = {
      {"ledger",
       [](const WorkloadSettings& s, History& h) {
         return std::make_unique<LedgerWorkload>(endpoint_target(*s.inventory), s.ledger, h);
       }},
      {"bank", [](const WorkloadSettings& s,
                  History& h) { return std::make_unique<BankWorkload>(endpoint_target(*s.inventory), s.bank, h); }},
      {"reads",
       [](const WorkloadSettings& s, History& h) {
         return std::make_unique<ReadsWorkload>(endpoint_target(*s.inventory), read_endpoint_target(*s.inventory),
                                                s.reads, h);
       }},
      {"maintenance", [](const WorkloadSettings& s,
                         History& h) { return std::make_unique<MaintenanceWorkload>(*s.inventory, s.maintenance, h); }},
  };
  return r;
}

}  // namespace

const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& r : registry()) n.push_back(r.name);
    return n;
  }();
  return names;
}

bool is_workload_name(std::string_view name) {
  const auto& n = workload_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

std::unique_ptr<Workload> make_workload(std::string_view name, const WorkloadSettings& settings, History& history) {
  if (!settings.inventory) throw std::invalid_argument(fmt::format("workload {}: no inventory", name));
  for (const auto& r : registry())
    if (r.name == name) return r.make(settings, history);
  throw std::invalid_argument(
      fmt::format("unknown workload '{}' (known: {})", name, fmt::join(workload_names(), ", ")));
}

}  // namespace haverify
