// The recovery phases read through the real reader (cluster/recovery_log.hpp)
// over a throwaway sshd: a throwaway PostgreSQL 15 crashed (pg_ctl stop -m
// immediate) with rows in flight and started again (crash recovery with its
// end-of-recovery checkpoint), and a streaming standby of it promoted once
// its primary is gone (the checkpoint after a promotion is spread: it may not
// have completed when the log is read). And a whole run (haverify run) whose
// power_off crashes the one node's server and whose heal starts it again:
// results.csv's redo_s and checkpoint_s and the run's recovery.txt.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "haverify/cluster/recovery_log.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/run/runner.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"
#include "reports/results_read.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// One node per server, reached over the throwaway sshd, with the server's log.
std::string inventory_yaml(const Lab& lab, const std::vector<const LocalPg*>& servers) {
  std::string nodes;
  int i = 0;
  for (const LocalPg* pg : servers)
    nodes += fmt::format(
        "  - name: node{}\n"
        "    ssh: {{host: 127.0.0.1, port: {}, user: root, key: {}, known_hosts: {}}}\n"
        "    postgres: {{host: 127.0.0.1, port: {}, data_dir: {}, bin_dir: {}, log_file: {}/server.log}}\n"
        "    power: {{controller: command, run_on: local, off: \"false\", on: \"true\", status: \"echo on\"}}\n",
        ++i, lab.port, lab.client_key.string(), lab.known_hosts.string(), pg->port(), pg->data_dir(), pg->bindir(),
        pg->dir());
  return fmt::format(
      "name: loopback\nstack: loopback\nnodes:\n{}endpoint: {{kind: vip, host: 127.0.0.1, port: \"{}\"}}\n"
      "driver: {{type: generic}}\n",
      nodes, servers.front()->port());
}

int sql(const LocalPg& pg, const std::string& statement) {
  return std::system(fmt::format("{}/psql -X -q -h 127.0.0.1 -p {} -U postgres -d postgres -c '{}' >/dev/null 2>&1",
                                 pg.bindir(), pg.port(), statement)
                         .c_str());
}

Inventory load(const TempDir& dir, const std::string& yaml) {
  std::ofstream(dir.path / "inventory.yaml") << yaml;
  return load_inventory((dir.path / "inventory.yaml").string());
}

}  // namespace

TEST_CASE("recovery phases: a crashed local server's crash recovery, read over SSH", "[pg][ssh]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  TempDir dir;
  const Inventory inv = load(dir, inventory_yaml(lab, {&pg}));
  TransportPool pool(inv);
  REQUIRE(sql(pg, "create table t (i int); insert into t select generate_series(1, 100000)") == 0);
  const Nanos since = wall_now_ns();
  REQUIRE(pg.stop_immediate());
  REQUIRE(pg.start());

  const RecoveryPhases p = read_recovery_phases(inv, pool, "node1", since, 10s);
  INFO(describe(p, "node1"));
  CHECK(p.log == pg.dir() + "/server.log");
  CHECK(p.kind == "crash recovery");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s >= 0.0);
  CHECK(*p.redo_s < 30.0);
  REQUIRE(p.checkpoint_s);  // pg_ctl start -w returns after the end-of-recovery checkpoint
  CHECK(p.checkpoint_kind == "end-of-recovery immediate wait");
  CHECK(p.evidence.size() >= 4);

  // Lines before `since` are not read as this fault's: a later start has no recovery.
  const Nanos later = wall_now_ns();
  const RecoveryPhases none = read_recovery_phases(inv, pool, "node1", later, 10s);
  CHECK(none.kind.empty());
  CHECK_FALSE(none.redo_s);
  CHECK_FALSE(none.checkpoint_s);
}

TEST_CASE("recovery phases: a promoted local standby, and a log that cannot be read", "[pg][ssh]") {
  LocalPg primary;
  REQUIRE_LOCAL_PG(primary);
  REQUIRE(primary.settings_in_files());
  LocalPg standby(primary, "node2");
  REQUIRE_LOCAL_PG(standby);
  Lab lab;
  TempDir dir;
  const Inventory inv = load(dir, inventory_yaml(lab, {&primary, &standby}));
  TransportPool pool(inv);
  REQUIRE(sql(primary, "create table t (i int); insert into t select generate_series(1, 50000)") == 0);
  const Nanos since = wall_now_ns();
  REQUIRE(primary.stop_immediate());
  REQUIRE(std::system(fmt::format("runuser -u postgres -- {}/pg_ctl -D {} -w -t 60 promote >/dev/null 2>&1",
                                  standby.bindir(), standby.data_dir())
                          .c_str()) == 0);

  const RecoveryPhases p = read_recovery_phases(inv, pool, "node2", since, 10s);
  INFO(describe(p, "node2"));
  CHECK(p.kind == "promotion");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s >= 0.0);
  CHECK(*p.redo_s < 30.0);
  if (!p.checkpoint_s) CHECK(p.notes.back().find("checkpoint_s empty") != std::string::npos);

  // The old primary's log holds no recovery after the fault.
  CHECK(read_recovery_phases(inv, pool, "node1", since, 10s).kind.empty());

  // A log that is not there: empty figures and the reason, never 0.
  Inventory moved = inv;
  moved.nodes[1].postgres.log_file = standby.dir() + "/no-such.log";
  TransportPool pool2(moved);
  const RecoveryPhases unread = read_recovery_phases(moved, pool2, "node2", since, 10s);
  CHECK(unread.kind.empty());
  CHECK_FALSE(unread.redo_s);
  CHECK_FALSE(unread.checkpoint_s);
  REQUIRE(unread.notes.size() == 1);
  CHECK(unread.notes[0].find("cannot read") != std::string::npos);
}

TEST_CASE("recovery phases: a run whose fault crashes the server has redo_s, checkpoint_s and recovery.txt",
          "[pg][ssh]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  REQUIRE(pg.settings_in_files());  // a plain pg_ctl start starts it as itself
  Lab lab;
  TempDir dir;
  // The "power" of the one node: off crashes its server (immediate stop) and
  // marks it off; on starts it again (crash recovery).
  const std::string ctl = fmt::format("runuser -u postgres -- {}/pg_ctl -D {} -w -t 60", pg.bindir(), pg.data_dir());
  const std::string mark = (dir.path / "off").string();
  std::string yaml = inventory_yaml(lab, {&pg});
  const std::string power =
      "    power: {controller: command, run_on: local, off: \"false\", on: \"true\", status: \"echo on\"}\n";
  yaml.replace(
      yaml.find(power), power.size(),
      fmt::format("    power: {{controller: command, run_on: local, off: \"{0} -m immediate stop && touch {1}\", "
                  "on: \"rm -f {1} && {0} -l {2}/server.log start\", status: \"test -f {1} && echo off || "
                  "echo on\"}}\n",
                  ctl, mark, pg.dir()));
  std::ofstream(dir.path / "inventory.yaml") << yaml;
  std::ofstream(dir.path / "crash.yaml") << R"(name: crash-restart
kind: single-fault
converge_timeout: 10s
workload:
  ledger: {clients: 2}
steps:
  - start: ledger
  - wait: 2s
  - inject: {id: crash, fault: power_off, target: node1}
  - wait: 1s
  - heal: crash
  - recover: {timeout: 60s}
  - wait: 1s
  - stop: ledger
)";
  RunOptions o;
  o.inventory_path = (dir.path / "inventory.yaml").string();
  o.scenario_paths = {(dir.path / "crash.yaml").string()};
  o.out_dir = (dir.path / "out").string();
  o.ledger_path = (dir.path / "fault-ledger.json").string();
  o.seed = 5;
  run_suite(o);
  const auto back = reports::read_results_rows(o.out_dir + "/results.csv");
  REQUIRE(back.rows.size() == 1);
  const reports::RunRow& row = back.rows[0];
  const std::string recovery = slurp(fs::path(row.run_dir) / "recovery.txt");
  INFO("reason: " << row.reason << "\nrecovery.txt:\n" << recovery);
  CHECK(row.verdict != "error");
  REQUIRE(row.metrics.redo_s);
  CHECK(*row.metrics.redo_s >= 0.0);
  REQUIRE(row.metrics.checkpoint_s);
  CHECK(*row.metrics.checkpoint_s >= 0.0);
  CHECK(recovery.find("node: node1\n") != std::string::npos);
  CHECK(recovery.find("kind: crash recovery\n") != std::string::npos);
  CHECK(recovery.find("checkpoint: end-of-recovery immediate wait\n") != std::string::npos);
  CHECK(recovery.find("redo starts at") != std::string::npos);
}
