// The normal suite end to end on loopback: a two-node "cluster" (a
// throwaway primary and its streaming standby, both on 127.0.0.1, reached
// over the throwaway sshd as root; generic driver, host-list endpoint) runs
// a scenario of planned operations under the ledger workload: stop and start
// of the standby, a rebuild from a fresh base backup (lab/scripts/pg-rejoin.sh
// with PG_REJOIN_MODE=basebackup), a skipped switchover, a whole-cluster stop
// and start. It checks the verdict, op_s/stall_s, operations.csv and the
// timeline, and that a failing operation ends the run in error with the
// driver's message.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "haverify/run/runner.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"

namespace fs = std::filesystem;
using haverify::testing::Lab;
using haverify::testing::LocalPg;
using haverify::testing::slurp;
using namespace std::chrono_literals;

namespace {

// A throwaway pgpool-II in front of two LocalPg servers (127.0.0.1, own
// ports), with pcp and a failover_command that does what a planned
// switchover needs (the lab's failover.sh has its own test): when the
// detached node was the primary and pgpool names a new main node, stop the
// old primary (a no-op if it is dead) and promote the new one. The
// destructor stops pgpool by its pid file.
class LocalPgpool {
 public:
  LocalPgpool(const LocalPg& a, const LocalPg& b) {
    if (!fs::exists("/usr/sbin/pgpool") || std::system("command -v pcp_attach_node >/dev/null 2>&1") != 0) {
      why_ = "no /usr/sbin/pgpool or pcp_attach_node";
      return;
    }
    port_ = haverify::testing::free_port();
    pcp_port_ = haverify::testing::free_port();
    const std::string d = dir_.path.string();
    std::ofstream(d + "/pcp.conf") << "pcpadmin:5ebe2294ecd0e0f08eab7690d2a6ee69\n";  // md5 of "secret"
    std::ofstream(d + "/pcppass") << fmt::format("127.0.0.1:{}:pcpadmin:secret\n", pcp_port_);
    fs::permissions(d + "/pcppass", fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(d + "/pool_passwd");
    std::ofstream(d + "/pool_hba.conf");
    std::ofstream(d + "/failover.sh") << fmt::format(R"SH(#!/bin/bash
# failover_command %d %h %p %D %m %H %M %P %r %R
failed=$1 dir=$4 new=$5 newhost=$6 old_primary=$8 newport=$9
echo "$(date +%T.%N) failover $*" >>{0}/failover.log
[ "$failed" = "$old_primary" ] || exit 0
[ "$new" -ge 0 ] 2>/dev/null && [ "$new" != "$failed" ] || exit 0
runuser -u postgres -- {1}/pg_ctl -D "$dir" stop -m fast -w -t 60 >>{0}/failover.log 2>&1
psql "host=$newhost port=$newport user=postgres dbname=postgres" -XAtc "select pg_promote(true, 60)" >>{0}/failover.log 2>&1
exit 0
)SH",
                                                     d, a.bindir());
    fs::permissions(d + "/failover.sh", fs::perms::owner_all);
    std::ofstream conf(d + "/pgpool.conf");
    conf << fmt::format(R"(backend_clustering_mode = 'streaming_replication'
listen_addresses = '127.0.0.1'
port = {0}
pcp_listen_addresses = '127.0.0.1'
pcp_port = {1}
pcp_socket_dir = '{2}'
unix_socket_directories = '{2}'
pid_file_name = '{2}/pgpool.pid'
logdir = '{2}'
enable_pool_hba = off
pool_passwd = '{2}/pool_passwd'
log_destination = 'stderr'
use_watchdog = off
load_balance_mode = off
connection_cache = off
sr_check_period = 1
sr_check_user = 'postgres'
health_check_period = 1
health_check_timeout = 2
health_check_user = 'postgres'
health_check_max_retries = 0
failover_command = '{2}/failover.sh %d %h %p %D %m %H %M %P %r %R'
failover_on_backend_error = on
failover_on_backend_shutdown = off
search_primary_node_timeout = 10
)",
                        port_, pcp_port_, d);
    int i = 0;
    for (const LocalPg* pg : {&a, &b}) {
      conf << fmt::format(
          "backend_hostname{0} = '127.0.0.1'\nbackend_port{0} = {1}\nbackend_data_directory{0} = '{2}'\n"
          "backend_flag{0} = 'ALLOW_TO_FAILOVER'\n",
          i, pg->port(), pg->data_dir());
      ++i;
    }
    conf.close();
    const std::string start = fmt::format(
        "setsid /usr/sbin/pgpool -n -D -f {0}/pgpool.conf -F {0}/pcp.conf -a {0}/pool_hba.conf </dev/null "
        ">>{0}/pgpool.log 2>&1 &",
        d);
    if (std::system(start.c_str()) != 0) {
      why_ = "cannot start pgpool";
      return;
    }
    for (int tries = 0; tries < 100 && !ready_; ++tries) {
      std::this_thread::sleep_for(100ms);
      std::string err;
      haverify::PgTarget t = a.target();
      t.port = std::to_string(port_);
      if (auto conn = haverify::pg_connect(t, 1000ms, &err))
        ready_ = haverify::pg_query_rows(conn.get(), "SHOW pool_nodes", 1000ms, &err).size() == 2;
    }
    if (!ready_) why_ = "pgpool did not serve SHOW pool_nodes, see " + d + "/pgpool.log";
  }
  ~LocalPgpool() {
    const std::string pidfile = dir_.path.string() + "/pgpool.pid";
    std::ifstream in(pidfile);
    pid_t pid = 0;
    if (in >> pid && pid > 1) {
      ::kill(pid, SIGTERM);
      for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
    }
  }
  LocalPgpool(const LocalPgpool&) = delete;
  LocalPgpool& operator=(const LocalPgpool&) = delete;

  bool ready() const { return ready_; }
  const std::string& why() const { return why_; }
  std::string driver_yaml() const {
    return fmt::format(
        "endpoint: {{kind: pgpool, host: 127.0.0.1, port: {}, user: postgres}}\n"
        "driver: {{type: pgpool, pcp_host: 127.0.0.1, pcp_port: {}, pcp_user: pcpadmin, pcp_passfile: {}/pcppass}}\n",
        port_, pcp_port_, dir_.path.string());
  }
  std::string log() const { return slurp(dir_.path / "failover.log") + slurp(dir_.path / "pgpool.log"); }

 private:
  haverify::testing::sshd_detail::TempDir dir_;
  int port_ = 0, pcp_port_ = 0;
  bool ready_ = false;
  std::string why_;
};

// The nodes of a two-node inventory: n1 (`primary`) and n2 (`standby`), over the throwaway sshd.
std::string nodes_yaml(const Lab& lab, const LocalPg& primary, const LocalPg& standby) {
  auto node = [&](const std::string& name, const LocalPg& pg) {
    return fmt::format(R"(  - name: {}
    ssh: {{host: 127.0.0.1}}
    postgres: {{host: 127.0.0.1, port: {}, user: postgres, data_dir: {}, bin_dir: {}, os_user: postgres,
                log_file: {}/server.log}}
    power: {{controller: command, off: "false", on: "true", verify: none}}
)",
                       name, pg.port(), pg.data_dir(), pg.bindir(), pg.dir());
  };
  return fmt::format("ssh: {{user: root, port: {}, key: {}, known_hosts: {}}}\nnodes:\n{}{}", lab.port,
                     lab.client_key.string(), lab.known_hosts.string(), node("n1", primary), node("n2", standby));
}

std::string two_node_inventory(const Lab& lab, const LocalPg& primary, const LocalPg& standby) {
  return fmt::format(R"(name: loopback-pair
stack: loopback
{}endpoint: {{kind: hostlist, host: "127.0.0.1,127.0.0.1", port: "{},{}", user: postgres}}
driver: {{type: generic}}
)",
                     nodes_yaml(lab, primary, standby), primary.port(), standby.port());
}

// Every planned operation under the ledger workload; the generic driver has
// no switchover, so those steps (and the rejoins of the node they demote)
// are skipped there.
const char* const kPlanned = R"(name: planned
kind: normal
converge_timeout: 30s
workload:
  ledger: {clients: 2}
steps:
  - start: ledger
  - wait: 1s
  - cluster: {op: stop_node, node: standby, timeout: 60s}
  - wait: 500ms
  - cluster: {op: start_node, node: stopped, timeout: 60s}
  - cluster: {op: rebuild, node: "standby:1", timeout: 60s}
  - cluster: {op: switchover, to: sync_standby, timeout: 60s, skip_if: "driver:generic"}
  - await_writes: {timeout: 30s}
  - cluster: {op: rejoin, node: previous_primary, timeout: 60s, skip_if: "driver:generic"}
  - cluster: {op: switchover, to: original_primary, timeout: 60s, skip_if: "driver:generic"}
  - await_writes: {timeout: 30s}
  - cluster: {op: rejoin, node: previous_primary, timeout: 60s, skip_if: "driver:generic"}
  - cluster: {op: stop, timeout: 60s}
  - wait: 500ms
  - cluster: {op: start, timeout: 60s}
  - await_writes: {timeout: 30s}
  - wait: 500ms
  - stop: ledger
checks:
  lost_acked: {max: 0}
  op_s: {max: 60}
  stall_s: {min: 0.5, max: 60}
)";
const std::vector<std::string> kPlannedOps = {"stop_node",  "start_node", "rebuild", "switchover", "rejoin",
                                              "switchover", "rejoin",     "stop",    "start"};

// A primary n1 and its streaming standby n2 (their settings in files, so
// that a plain pg_ctl start brings each up as itself), and the sshd.
struct Pair {
  LocalPg primary;
  std::optional<LocalPg> standby;
  Lab lab;
  bool ready() {
    if (!primary.settings_in_files()) {
      WARN("the primary did not restart with its settings in files");
      return false;
    }
    standby.emplace(primary, "n2");
    if (!standby->ready()) WARN("standby: " << standby->why());
    return standby->ready();
  }
  std::string file(const std::string& name, const std::string& text) const {
    const std::string path = (lab.dir.path / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // Runs one scenario; its row in `row`.
  int run(const std::string& inventory, const std::string& scenario, const std::string& out,
          haverify::reports::RunRow* row) const {
    haverify::RunOptions o;
    o.inventory_path = inventory;
    o.scenario_paths = {scenario};
    o.out_dir = (lab.dir.path / out).string();
    o.ledger_path = (lab.dir.path / "ledger.json").string();
    o.seed = 7;
    std::vector<haverify::reports::RunRow> rows;
    const int rc = haverify::run_suite(o, &rows);
    if (rows.size() == 1) *row = rows[0];
    return rc;
  }
};

}  // namespace

TEST_CASE("normal suite on loopback: planned operations under writes, op_s, stall_s, operations.csv", "[pg][ssh]") {
  Pair pair;
  REQUIRE_LOCAL_PG(pair.primary);
  REQUIRE(pair.ready());
  const std::string inventory = pair.file("inventory.yaml", two_node_inventory(pair.lab, pair.primary, *pair.standby));
  const std::string scenario = pair.file("planned.yaml", kPlanned);
  haverify::reports::RunRow r;
  const int rc = pair.run(inventory, scenario, "runs", &r);
  INFO("reason: " << r.reason << "\nsshd log:\n" << slurp(pair.lab.log));
  CHECK(rc == haverify::kExitPass);
  CHECK(r.verdict == "pass");
  CHECK(r.reason.find("skipped: switchover (driver:generic), rejoin (driver:generic)") != std::string::npos);
  const auto& m = r.metrics;
  CHECK(m.lost_acked == 0);
  CHECK_FALSE(m.failover_s);  // no fault: the fault timings stay empty
  CHECK_FALSE(m.t_inject_sent);
  REQUIRE(m.op_s);
  REQUIRE(m.stall_s);
  REQUIRE(m.operations.size() == kPlannedOps.size());
  for (std::size_t i = 0; i < kPlannedOps.size(); ++i) {
    INFO(kPlannedOps[i] << ": " << m.operations[i].detail);
    CHECK(m.operations[i].op == kPlannedOps[i]);
    CHECK(m.operations[i].outcome == (i >= 3 && i <= 6 ? "skipped" : "ok"));
  }
  CHECK(m.operations[0].node == "n2");  // `standby` is n2, and `stopped` names it again
  CHECK(m.operations[1].node == "n2");
  CHECK(m.operations[7].detail.rfind("all (primary n1 last); ", 0) == 0);
  // Stopping the standby does not stop the writes (asynchronous replication);
  // the whole-cluster stop does, until the start.
  REQUIRE(m.operations[0].stall_s);
  CHECK(*m.operations[0].stall_s < 2.0);
  REQUIRE(m.operations[7].stall_s);
  CHECK(*m.operations[7].stall_s >= 0.5);
  CHECK(*m.stall_s == Approx(*m.operations[7].stall_s));
  // durability, single_writer, convergence, and expectation (it judges the await_writes steps: issue 13)
  CHECK(r.checkers.size() == 4);
  for (const auto& c : r.checkers) CHECK(c.status == haverify::CheckStatus::pass);
  // Every acknowledged write names its server (issue 13): n1, by the instance its probes read
  // (both nodes listen on 127.0.0.1, so the address alone could not tell them apart).
  for (const auto& c : r.checkers) {
    if (c.checker != "single_writer") continue;
    INFO(haverify::format_verdict(c));
    CHECK(c.figures.at("attributed_writes") > 0);
    CHECK(c.figures.at("unattributed_writes") == 0);
    CHECK(c.figures.at("write_nodes") == 1);
    CHECK(c.figures.at("write_overlap_windows") == 0);
  }

  const std::string operations = slurp(r.run_dir + "/operations.csv");
  CHECK(operations.rfind("op,node,start,t_rel_s,duration_s,stall_s,outcome,detail\r\n", 0) == 0);
  CHECK(operations.find("\r\nrebuild,n2,") != std::string::npos);
  CHECK(operations.find(",skipped,skipped: driver:generic\r\n") != std::string::npos);
  const std::string events = slurp(r.run_dir + "/events.csv");
  CHECK(events.find(",driver,ok,stop_node,") != std::string::npos);
  CHECK(events.find(",driver,info,switchover,skipped: driver:generic,") != std::string::npos);
  CHECK(events.find(",runner,ok,original_primary,n1,n1,") != std::string::npos);
  const std::string results = slurp(r.run_dir + "/results.csv");
  CHECK(results.find(",op_s,stall_s,measured_from,duration_s,maintenance_in_flight,vip_s,dns_s\r\n") !=
        std::string::npos);

  // A failing operation (the generic driver has no switchover) ends the run
  // in error with the driver's message; the standby stopped before it is
  // started again at the end of the run, like a heal.
  const std::string failing = pair.file("failing.yaml", R"(name: failing
kind: normal
converge_timeout: 30s
steps:
  - start: ledger
  - cluster: {op: stop_node, node: n2, timeout: 60s}
  - cluster: {op: switchover, to: n2}
  - stop: ledger
)");
  haverify::reports::RunRow f;
  CHECK(pair.run(inventory, failing, "runs-failing", &f) == haverify::kExitHarness);
  INFO("reason: " << f.reason);
  CHECK(f.verdict == "error");
  CHECK(f.reason.find("cluster switchover n2: the generic driver cannot switch over (to n2)") != std::string::npos);
  CHECK(f.metrics.operations.size() == 2);
  CHECK(slurp(f.run_dir + "/events.csv").find(",runner,ok,restore,start of n2,") != std::string::npos);
  // The restored standby streams again, so the next run finds a healthy cluster.
  haverify::reports::RunRow again;
  CHECK(pair.run(inventory, scenario, "runs-again", &again) == haverify::kExitPass);
}

TEST_CASE("normal suite on loopback through pgpool: detach/attach, switchover and back, cluster stop/start",
          "[pg][ssh][pgpool]") {
  Pair pair;
  REQUIRE_LOCAL_PG(pair.primary);
  REQUIRE(pair.ready());
  LocalPgpool pgpool(pair.primary, *pair.standby);
  if (!pgpool.ready()) HAVERIFY_SKIP(pgpool.why());
  const std::string inventory =
      pair.file("inventory.yaml", "name: loopback-pgpool\nstack: pgpool\n" +
                                      nodes_yaml(pair.lab, pair.primary, *pair.standby) + pgpool.driver_yaml());
  haverify::reports::RunRow r;
  const int rc = pair.run(inventory, pair.file("planned.yaml", kPlanned), "runs", &r);
  INFO("reason: " << r.reason << "\npgpool:\n" << pgpool.log());
  CHECK(rc == haverify::kExitPass);
  CHECK(r.verdict == "pass");
  const auto& ops = r.metrics.operations;
  REQUIRE(ops.size() == kPlannedOps.size());
  for (std::size_t i = 0; i < kPlannedOps.size(); ++i) {
    INFO(kPlannedOps[i] << ": " << ops[i].detail);
    CHECK(ops[i].op == kPlannedOps[i]);
    CHECK(ops[i].outcome == "ok");
  }
  CHECK(ops[3].detail.rfind("n2 (from n1); ", 0) == 0);  // switchover to the standby
  CHECK(ops[4].node == "n1");                            // rejoin previous_primary
  CHECK(ops[5].detail.rfind("n1 (from n2); ", 0) == 0);  // and back
  CHECK(ops[6].node == "n2");
  CHECK(ops[8].detail.rfind("all (primary n1); ", 0) == 0);
  CHECK(r.metrics.lost_acked == 0);
  for (const auto& c : r.checkers) CHECK(c.status == haverify::CheckStatus::pass);
}

// Issue 13, What to build 4 and 5: a cluster that is unhealthy before the steps is a finding.
// Without --repair-at-setup haverify waits setup_timeout touching nothing, and the run fails
// as a cluster defect (exit 1, every checker kept), not as a harness error (exit 3).
TEST_CASE("a cluster unhealthy before the steps is a cluster defect, not repaired without --repair-at-setup",
          "[pg][ssh]") {
  Pair pair;
  REQUIRE_LOCAL_PG(pair.primary);
  REQUIRE(pair.ready());
  const std::string inventory = pair.file("inventory.yaml", two_node_inventory(pair.lab, pair.primary, *pair.standby));
  REQUIRE(pair.standby->stop_immediate());
  const std::string scenario = pair.file("unhealthy.yaml", R"(name: unhealthy
kind: normal
setup_timeout: 3s
converge_timeout: 5s
workload:
  ledger: {clients: 1}
steps:
  - start: ledger
  - wait: 1s
  - stop: ledger
)");
  haverify::reports::RunRow r;
  const int rc = pair.run(inventory, scenario, "runs", &r);
  INFO("reason: " << r.reason);
  CHECK(rc == haverify::kExitVerdictFailed);
  CHECK(r.verdict == "fail");
  CHECK(r.reason.rfind("cluster defect: cluster not healthy before the steps (waited 3.000 s): ", 0) == 0);
  CHECK(r.reason.find("haverify did not repair it (it repairs at setup only with --repair-at-setup)") !=
        std::string::npos);
  // The row keeps the checkers' verdicts: single_writer and convergence ran on what there was.
  CHECK(r.checkers.size() >= 2);
  bool convergence = false;
  for (const auto& c : r.checkers) convergence = convergence || c.checker == "convergence";
  CHECK(convergence);
  // Nothing was repaired: the standby is still down.
  std::string err;
  CHECK_FALSE(haverify::pg_connect(pair.standby->target(), 2s, &err));
}
