// make_workload: the workloads by name, behind the Workload interface.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"
#include "haverify/workload/ledger.hpp"
#include "haverify/workload/maintenance.hpp"
#include "haverify/workload/reads.hpp"
#include "haverify/workload/workload.hpp"
#include "haverify/workload/workload_bank.hpp"

using namespace haverify;

namespace {

Inventory loopback_inventory() {
  Inventory inv;
  inv.endpoint.host = "127.0.0.1";
  inv.endpoint.port = "1";
  inv.endpoint.user = "postgres";
  inv.endpoint.database = "postgres";
  return inv;
}

}  // namespace

TEST_CASE("workload registry: ledger, bank, reads and maintenance by name", "[unit]") {
  CHECK(workload_names() == std::vector<std::string>{"ledger", "bank", "reads", "maintenance"});
  CHECK(is_workload_name("bank"));
  CHECK_FALSE(is_workload_name("pgbench"));

  const Inventory inv = loopback_inventory();
  History history;
  WorkloadSettings settings;
  settings.inventory = &inv;
  settings.ledger.clients = 2;
  settings.bank.clients = 3;

  const auto ledger = make_workload("ledger", settings, history);
  REQUIRE(dynamic_cast<LedgerWorkload*>(ledger.get()));
  REQUIRE(ledger->figures().size() == 1);
  CHECK(ledger->figures()[0].name == "acked");
  CHECK(ledger->figures()[0].value == 0);

  const auto bank = make_workload("bank", settings, history);
  REQUIRE(dynamic_cast<BankWorkload*>(bank.get()));
  CHECK(bank->figures().at(2).name == "expected_total");
  CHECK(bank->figures().at(2).value == settings.bank.initial_balance * settings.bank.accounts);

  const auto reads = make_workload("reads", settings, history);
  REQUIRE(dynamic_cast<ReadsWorkload*>(reads.get()));
  CHECK(reads->figures().at(1).name == "reads_ok");
  settings.reads.foreign_every = -1;
  CHECK_THROWS_AS(make_workload("reads", settings, history), std::invalid_argument);
  settings.reads.foreign_every = 4;

  const auto maintenance = make_workload("maintenance", settings, history);
  REQUIRE(dynamic_cast<MaintenanceWorkload*>(maintenance.get()));
  maintenance->stop();         // idempotent before start
  CHECK(history.size() == 0);  // building one records nothing

  CHECK_THROWS_AS(make_workload("pgbench", settings, history), std::invalid_argument);
  CHECK_THROWS_AS(make_workload("ledger", WorkloadSettings{}, history), std::invalid_argument);
  settings.ledger.table = "bad name";
  CHECK_THROWS_AS(make_workload("ledger", settings, history), std::invalid_argument);
}
