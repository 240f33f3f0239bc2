// The log bundle over SSH on loopback: a node's PostgreSQL log (a file the
// inventory names) is read through the throwaway sshd and sliced to the run's
// window, continuation lines kept with their message; a log that cannot be
// read is said in collect.txt.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "haverify/cluster/log_bundle.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"
#include "loopback_inventory.hpp"

namespace fs = std::filesystem;
using haverify::testing::Lab;
using haverify::testing::LocalPg;

TEST_CASE("log bundle: the PostgreSQL log's slice covering the run, read over SSH", "[pg][ssh]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  const fs::path log = lab.dir.path / "pg.log";
  std::ofstream(log) << "2026-12-07 09:00:00.000 UTC [10] LOG:  before the run\n"
                        "2026-12-07 09:10:01.000 UTC [11] LOG:  during the run\n"
                        "\tDETAIL:  a continuation line\n"
                        "2026-12-07 09:10:30.000 UTC [12] LOG:  still during\n"
                        "2026-12-07 09:30:00.000 UTC [13] LOG:  long after\n";
  const std::string inventory = (lab.dir.path / "inventory.yaml").string();
  haverify::testing::write_loopback_inventory(inventory, lab, pg, log.string());
  const haverify::Inventory inv = haverify::load_inventory(inventory);
  haverify::TransportPool pool(inv);
  haverify::LogBundleOptions o;
  o.since_wall = haverify::parse_log_time("2026-12-07 09:10:00 UTC", 0).value();
  o.until_wall = haverify::parse_log_time("2026-12-07 09:11:00 UTC", 0).value();
  const fs::path out = lab.dir.path / "logs";
  const auto r = haverify::collect_logs(inv, pool, out.string(), o);
  INFO("sshd log:\n" << haverify::testing::slurp(lab.log));
  CHECK(r.files == 1);
  CHECK(r.notes.empty());
  const std::string slice = haverify::testing::slurp((out / "n1" / "postgresql.log").string());
  CHECK(slice ==
        "2026-12-07 09:10:01.000 UTC [11] LOG:  during the run\n"
        "\tDETAIL:  a continuation line\n"
        "2026-12-07 09:10:30.000 UTC [12] LOG:  still during\n");
  CHECK(haverify::testing::slurp((out / "collect.txt").string()).find("1 slice(s)") != std::string::npos);

  // A log that is not there: no slice, a note.
  fs::remove(log);
  const auto missing = haverify::collect_logs(inv, pool, (lab.dir.path / "logs2").string(), o);
  CHECK(missing.files == 0);
  REQUIRE(missing.notes.size() == 1);
  CHECK(missing.notes[0].rfind("n1 postgresql.log: not read", 0) == 0);
}
