// `haverify run --plan` end to end on loopback: a one-node "cluster" (the
// throwaway PostgreSQL, reached over the throwaway sshd, generic driver), a
// two-row sheet with one bound that must fail; the sheet comes back in its own
// order with the result columns filled in. No fault touches the host.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "haverify/config/plan.hpp"
#include "haverify/run/runner.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"
#include "loopback_inventory.hpp"

namespace fs = std::filesystem;
using haverify::testing::Lab;
using haverify::testing::LocalPg;

TEST_CASE("run --plan: rows run in sheet order and the sheet is written back with results", "[pg][ssh]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  const fs::path dir = lab.dir.path / "plan";
  fs::create_directories(dir);
  const std::string inventory = (lab.dir.path / "inventory.yaml").string();
  haverify::testing::write_loopback_inventory(inventory, lab, pg);
  std::ofstream(dir / "writes.yaml") << haverify::testing::kWritesScenarioBody << "  lost_acked: {max: 0}\n";
  // Row b (first in the sheet) gets an impossible bound from the sheet; row a keeps a passing one.
  std::ofstream(dir / "plan.csv")
      << "id,kind,fault,target_role,lan,process,expected,bounds,scenario_file,verdict,failover_s,lost_acked,reason,"
         "run_dir,seed\r\n"
         "b,normal,,,,,no-failover,acked_total>=1000000000,writes.yaml,,,,,,\r\n"
         "a,normal,,,,,no-failover,lost_acked==0,writes.yaml,,,,,,\r\n";

  haverify::RunOptions o;
  o.inventory_path = inventory;
  o.plan_path = (dir / "plan.csv").string();
  o.plan_out = (dir / "out.csv").string();
  o.out_dir = (lab.dir.path / "runs").string();
  o.ledger_path = (lab.dir.path / "ledger.json").string();
  o.seed = 100;
  const int rc = haverify::run_suite(o);
  INFO("sshd log:\n" << haverify::testing::slurp(lab.log));
  CHECK(rc == haverify::kExitVerdictFailed);
  const auto rows = haverify::read_plan_csv(o.plan_out);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == "b");
  CHECK(rows[0].verdict == "fail");
  CHECK(rows[0].reason.find("acked_total") != std::string::npos);
  CHECK(rows[0].seed == "100");
  CHECK(rows[1].id == "a");
  CHECK(rows[1].verdict == "pass");
  CHECK(rows[1].lost_acked == "0");
  CHECK(rows[1].seed == "101");
  CHECK(fs::exists(rows[1].run_dir + "/results.csv"));
  CHECK(haverify::read_plan_csv(o.plan_path)[0].verdict.empty());  // --plan-out leaves the input alone

  // Shard 2/2 runs position 1 only, with the seed it has in the whole suite, and writes back its own row.
  o.shard_index = 2;
  o.shard_count = 2;
  o.plan_out = (dir / "shard2.csv").string();
  o.out_dir = (lab.dir.path / "runs-shard2").string();
  CHECK(haverify::run_suite(o) == haverify::kExitPass);
  const auto shard = haverify::read_plan_csv(o.plan_out);
  REQUIRE(shard.size() == 1);
  CHECK(shard[0].id == "a");
  CHECK(shard[0].seed == "101");
}
