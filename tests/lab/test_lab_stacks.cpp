// Real-lab tests of the Pacemaker (pgrex, shared-disk) and Patroni stacks
// (label `lab`, fixture `stacks`): each case brings up and takes down its own lab.
#include <functional>

#include "lab_support.hpp"

using namespace labtest;

// ---------------------------------------------------------------------------
// The other stacks (tag [stacks], registered without the pgpool fixture: each
// case brings its own stack up with --profile fast and always takes it down).
// Issue 3: each stack comes up healthy, a power-off of the primary under load
// passes with no acknowledged write lost and reports t_detect, t_promote and
// t_first_write; a planned switchover and the rejoin of the old primary work
// through the driver, and the cluster is healthy afterwards.
namespace {

struct TimingRow {
  std::string t_detect, t_promote, t_first_write, detect_s, promote_s, failover_s, lost_acked, verdict, reason;
};

TimingRow read_timing_row(const fs::path& p) {
  io::CSVReader<9, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(p.string());
  in.read_header(io::ignore_extra_column, "t_detect", "t_promote", "t_first_write", "detect_s", "promote_s",
                 "failover_s", "lost_acked", "verdict", "reason");
  TimingRow r;
  REQUIRE(in.read_row(r.t_detect, r.t_promote, r.t_first_write, r.detect_s, r.promote_s, r.failover_s, r.lost_acked,
                      r.verdict, r.reason));
  return r;
}

// Healthy as the issue states it: one primary named by the manager, and
// every other node a standby streaming from it (shared disk: online passive).
void require_healthy(bool replicated) {
  Inventory inv = load_inventory(inventory_path());
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{rejoin_script_for(inv)});
  REQUIRE(driver->replicated() == replicated);
  std::string primary;
  const auto until = std::chrono::steady_clock::now() + 120s;
  std::size_t streaming = 0;
  while (std::chrono::steady_clock::now() < until) {
    primary.clear();
    std::size_t standbys = 0;
    for (const auto& s : driver->roles(5000ms)) {
      if (s.role == Role::primary) primary = s.node;
      if (s.role == Role::standby) ++standbys;
    }
    streaming = 0;
    if (!primary.empty() && standbys + 1 == inv.nodes.size()) {
      if (!replicated) return;
      std::string err;
      auto conn = pg_connect(node_target(*inv.node(primary)), 2000ms, &err);
      if (conn)
        streaming =
            pg_query_rows(conn.get(), "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'", 2000ms, &err)
                .size();
      if (streaming + 1 == inv.nodes.size()) return;
    }
    std::this_thread::sleep_for(1s);
  }
  FAIL(fmt::format("not healthy within 120 s: primary '{}', {} standby(s) streaming", primary, streaming));
}

std::string cluster_cmd(const std::string& args) {
  auto r = sh(fmt::format("{} cluster {} --inventory {}", sh_quote(kBin), args, sh_quote(inventory_path())), 300s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  WARN(fmt::format("haverify cluster {}: {}", args, r.out.substr(0, r.out.find('\n'))));
  return r.out;
}

std::string node_with_role(const std::string& role) {
  Inventory inv = load_inventory(inventory_path());
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{rejoin_script_for(inv)});
  const auto roles = driver->roles(5000ms);
  // Patroni's synchronous_mode only switches over to the synchronous standby.
  for (const auto& s : roles)
    if (to_string(s.role) == role && s.detail.find("Sync Standby") != std::string::npos) return s.node;
  for (const auto& s : roles)
    if (to_string(s.role) == role) return s.node;
  FAIL("no " << role << " in the lab");
  return {};
}

// The Pacemaker labs watch the service LAN (a ping resource and a location
// rule): a cut of the primary's service LAN must move the primary. Without the
// check the VIP stays on the cut node and writes resume only after the heal,
// more than 60 s after the cut (await_writes' timeout).
void service_lan_cut_fails_over(const std::string& stack) {
  const std::string before = node_with_role("primary");
  const fs::path out = fresh_dir("stack-" + stack + "-svc-cut");
  const auto rows = read_results(run_scenarios(out, "scenarios/single-fault/lan-cut-service-primary.yaml"));
  REQUIRE(rows.count("lan-cut-service-primary") == 1);
  const ResultRow& r = rows.at("lan-cut-service-primary").front();
  INFO(stack << ": " << r.verdict << " " << r.reason);
  CHECK(r.lost_acked == "0");
  CHECK(r.split_brain_windows == "0");
  REQUIRE_FALSE(r.failover_s.empty());
  CHECK(std::stod(r.failover_s) < 30.0);
  CHECK(node_with_role("primary") != before);
  WARN(fmt::format("{} service-LAN cut of the primary: failover_s={} verdict={}", stack, r.failover_s, r.verdict));
}

// A SIGKILLed pacemaker-controld on the standby is respawned, and Pacemaker
// 2.1.5 then loses the node's ping attribute from the CIB (the ping rule bans
// its promotion). In most runs the cluster does not recover on its own
// (the test does not assume it): recover has to unblock the standby, and that
// repair is a finding (issue 13): the row fails
// with "needed repair: unblock ..." by default and passes when the scenario
// says recover: {repair: allowed}. Either way the standby can take over after.
std::string controld_scenario(const std::string& name, const std::string& recover) {
  return fmt::format(R"(name: {}
kind: single-fault
workload:
  ledger: {{clients: 4, connect_deadline: 3s, commit_deadline: 3s}}
steps:
  - start: ledger
  - wait: 3s
  - inject: {{id: f1, fault: process_kill, target: standby, process: pacemaker-controld, signal: KILL}}
  - await_writes: {{timeout: 60s}}
  - wait: 5s
  - heal: all
  - recover: {}
  - stop: ledger
checks:
  lost_acked: {{max: 0}}
)",
                     name, recover);
}

void require_no_takeover_blockers() {
  Inventory inv = load_inventory(inventory_path());
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{rejoin_script_for(inv)});
  const auto blockers = driver->takeover_blockers(driver->roles(10s), 10s);
  std::string listed;
  for (const auto& [node, why] : blockers) listed += node + ": " + why + "\n";
  INFO(listed);
  CHECK(blockers.empty());
}

void controld_kill_leaves_standby_promotable(const std::string& stack) {
  const fs::path out = fresh_dir("stack-" + stack + "-controld");
  const fs::path plain = out / "kill-controld-standby.yaml", allowed = out / "kill-controld-standby-allowed.yaml";
  std::ofstream(plain) << controld_scenario("kill-controld-standby", "{timeout: 120s}");
  std::ofstream(allowed) << controld_scenario("kill-controld-standby-allowed", "{timeout: 120s, repair: allowed}");
  // pgrex needs the repair every time: both variants. Shared disk: the default only.
  const bool pgrex = stack == "pgrex";
  const auto rows = read_results(
      run_scenarios(out, sh_quote(plain.string()) + (pgrex ? " " + sh_quote(allowed.string()) : std::string())));
  REQUIRE(rows.count("kill-controld-standby") == 1);
  const ResultRow& r = rows.at("kill-controld-standby").front();
  INFO(stack << ": " << r.verdict << " " << r.reason);
  // Pacemaker 2.1.5 bans the standby's promotion most of the time (every
  // run here, not every CI run): whichever happened, the verdict must follow it.
  const bool repaired = r.reason.find("needed repair: unblock ") != std::string::npos;
  CHECK(r.verdict == (repaired ? "fail" : "pass"));
  if (repaired)
    CHECK(r.checkers.find("repairs=fail") != std::string::npos);
  else
    CHECK(r.checkers.find("repairs=") == std::string::npos);
  CHECK(r.checkers.find("durability=pass single_writer=pass convergence=pass expectation=pass") == 0);
  if (pgrex) {
    REQUIRE(rows.count("kill-controld-standby-allowed") == 1);
    const ResultRow& a = rows.at("kill-controld-standby-allowed").front();
    INFO("allowed: " << a.verdict << " " << a.reason);
    CHECK(a.verdict == "pass");
    const std::string checkers = slurp(fs::path(a.run_dir) / "checkers.txt");
    INFO(checkers);
    // A repair, when one was needed, is allowed here and said so.
    if (a.reason.find("unblock ") != std::string::npos || checkers.find("repairs ") != std::string::npos)
      CHECK(checkers.find("repairs pass: repair allowed by the scenario: unblock ") != std::string::npos);
    WARN(fmt::format("{} controld kill: repair needed {} (plain), {} (allowed)", stack, repaired ? "yes" : "no",
                     checkers.find("repairs pass") != std::string::npos ? "yes" : "no"));
  }
  require_no_takeover_blockers();
  WARN(fmt::format("{} kill of pacemaker-controld on the standby: {}", stack, r.reason));
}

// Runs each statement on `node`, one query each (ALTER SYSTEM may not run in
// a transaction block, and several statements in one query are one).
void run_statements(const NodeSpec& node, const std::vector<std::string>& statements) {
  std::string err;
  auto conn = pg_connect(node_target(node), 3000ms, &err);
  INFO(node.name << ": " << err);
  REQUIRE(conn);
  for (const auto& sql : statements) {
    pg_query_rows(conn.get(), sql, 10000ms, &err);
    INFO(node.name << ": " << sql << ": " << err);
    REQUIRE(err.empty());
  }
}

void on_primary(const std::vector<std::string>& statements) {
  Inventory inv = load_inventory(inventory_path());
  run_statements(*inv.node(node_with_role("primary")), statements);
}

// Issue 15's planted defect: with synchronous_commit = off (ALTER SYSTEM on
// the primary: the setting lives in the data directory, so on the shared disk
// it follows the failover), a commit is acknowledged before its WAL is
// durable, and the lab disk loses at a power-off what was not fsynced. A
// power-off of the primary under load must lose acknowledged writes, and
// durability must fail with the count. Bounded: 3 tries. The setting is
// reset afterwards, even when a check fails.
void planted_async_commit_loses_writes(const std::string& stack) {
  on_primary({"ALTER SYSTEM SET synchronous_commit = off", "SELECT pg_reload_conf()"});
  struct Reset {
    ~Reset() {
      try {
        on_primary({"ALTER SYSTEM RESET synchronous_commit", "SELECT pg_reload_conf()"});
      } catch (...) {
      }
    }
  } reset;
  const fs::path out = fresh_dir("stack-" + stack + "-async-commit");
  const auto results = read_results(run_scenarios(
      out, sh_quote(kSrc + "/tests/lab/scenarios/power-off-durability.yaml"), "--repeat 3 --stop-after-fail"));
  const auto& rows = results.at("power-off-durability");
  bool caught = false;
  for (const auto& r : rows) {
    INFO(r.verdict << " " << r.reason << " " << r.checkers);
    if (r.verdict == "fail" && !r.lost_acked.empty() && std::stol(r.lost_acked) > 0) {
      caught = true;
      CHECK(r.checkers.find("durability=fail") != std::string::npos);
      CHECK(r.reason.find("lost_acked") != std::string::npos);
      WARN(fmt::format("{}, synchronous_commit = off: {} acknowledged writes lost at a power-off (try {} of 3)", stack,
                       r.lost_acked, rows.size()));
    }
  }
  CHECK(caught);
}

// Issue 17's lab mode (lab up --ssh-user qa): the harness host cannot log in
// as root, the inventory logs in as qa with sudo, and inventory check (which
// runs `id -u` through sudo) passes.
void require_qa_not_root() {
  const std::string ssh = fmt::format(
      "ssh -i {0}/ssh/id_ed25519 -o UserKnownHostsFile={0}/ssh/known_hosts -o BatchMode=yes -o ConnectTimeout=3 ",
      state_dir());
  const std::string node = "198.18.0.11";
  const auto root = sh(ssh + "root@" + node + " true", 20s);
  INFO(root.out << root.err);
  CHECK(root.exit_code == 255);
  CHECK(root.err.find("Permission denied") != std::string::npos);
  const auto qa = sh(ssh + "qa@" + node + " 'id -u; sudo -n id -u'", 20s);
  INFO(qa.out << qa.err);
  CHECK(qa.exit_code == 0);
  const auto eol = qa.out.find('\n');
  REQUIRE(eol != std::string::npos);
  CHECK(qa.out.substr(0, eol) != "0");     // qa is not root
  CHECK(qa.out.substr(eol + 1) == "0\n");  // sudo -n makes it root, without a password
  CHECK(qa.err.empty());                   // no sudo warning on the commands' stderr
  const Inventory inv = load_inventory(inventory_path());
  for (const auto& n : inv.nodes) {
    CHECK(n.ssh.user == "qa");
    CHECK(n.ssh.become == "sudo");
  }
  const auto check = sh(fmt::format("{} inventory check {}", sh_quote(kBin), sh_quote(inventory_path())), 60s);
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
}

// disk: lab up --disk; extra: more options of lab up; then `more` runs while
// the lab is still up and healthy.
void stack_case(const std::string& stack, bool replicated, const std::string& disk = "",
                const std::function<void()>& more = {}, const std::string& extra = "") {
  StackLab up(stack, disk, extra);
  require_healthy(replicated);
  // 1. Power-off of the primary under load.
  const fs::path out = fresh_dir("stack-" + stack);
  const auto results = run_scenarios(out, "scenarios/single-fault/power-off-primary.yaml");
  const TimingRow r = read_timing_row(results);
  INFO(stack << ": " << r.verdict << " " << r.reason);
  CHECK(r.verdict == "pass");
  CHECK(r.lost_acked == "0");
  CHECK_FALSE(r.t_detect.empty());
  CHECK_FALSE(r.t_promote.empty());
  CHECK_FALSE(r.t_first_write.empty());
  REQUIRE_FALSE(r.detect_s.empty());
  REQUIRE_FALSE(r.promote_s.empty());
  REQUIRE_FALSE(r.failover_s.empty());
  // The phases are in order: noticed, then promoted, then the first write.
  CHECK(std::stod(r.detect_s) <= std::stod(r.promote_s));
  CHECK(std::stod(r.promote_s) <= std::stod(r.failover_s) + 0.1);
  WARN(fmt::format("{} power-off: detect_s={} promote_s={} failover_s={}", stack, r.detect_s, r.promote_s,
                   r.failover_s));
  require_healthy(replicated);
  // 2. Pacemaker: the service-LAN cut of the primary fails over (the ping resource).
  if (stack != "patroni") {
    service_lan_cut_fails_over(stack);
    require_healthy(replicated);
    // The controld kill on shared disk is the `extended` case below (pgrex's covers the repair finding in CI).
    if (stack == "pgrex") {
      controld_kill_leaves_standby_promotable(stack);
      require_healthy(replicated);
    }
  }
  // 3. Planned switchover to a standby, then the rejoin of the old primary.
  const std::string old_primary = node_with_role("primary");
  const std::string target = node_with_role("standby");
  cluster_cmd(fmt::format("switchover --to {}", target));
  CHECK(node_with_role("primary") == target);
  cluster_cmd(fmt::format("rejoin {}", old_primary));
  require_healthy(replicated);
  if (more) more();
}

}  // namespace

// As a QA engineer on a production-like cluster (issue 17): SSH as qa,
// root refused from the harness host, every command through sudo.
TEST_CASE("pgrex stack as a non-root SSH user with sudo: power-off, LAN cut, switchover and rejoin", "[stacks]") {
  stack_case("pgrex", true, "", require_qa_not_root, " --ssh-user qa");
}

// The shared disk on the lab disk with the hdd profile (issue 15): a SAN-like
// LUN whose power-off loses what the primary had not fsynced. The healthy
// cases above must hold on it; then the planted synchronous_commit = off.
TEST_CASE(
    "shared-disk stack on an hdd lab disk: power-off, switchover, rejoin, and a planted synchronous_commit = off "
    "loses acknowledged writes",
    "[stacks]") {
  stack_case("shared-disk", false, "hdd", [] {
    planted_async_commit_loses_writes("shared-disk");
    require_healthy(false);
  });
}

TEST_CASE("patroni stack: power-off, switchover and rejoin through the patroni driver", "[stacks]") {
  stack_case("patroni", true);
}

// Label `extended` (not in CI's set): the controld kill on the shared-disk
// stack, the same finding as pgrex's in CI, where Pacemaker recovers on its
// own most of the time.
TEST_CASE("shared-disk stack: a killed pacemaker-controld on the standby leaves it promotable", "[stacks-extended]") {
  StackLab up("shared-disk");
  require_healthy(false);
  controld_kill_leaves_standby_promotable("shared-disk");
  require_healthy(false);
}

// Label `extended`, issue 15's healthy control: on the same hdd lab disk
// with the default settings, a power-off of the shared disk's primary under
// load loses nothing, 5 times out of 5.
TEST_CASE("shared-disk stack on an hdd lab disk: with the default settings a power-off loses nothing, 5 of 5",
          "[stacks-extended]") {
  StackLab up("shared-disk", "hdd");
  require_healthy(false);
  const fs::path out = fresh_dir("stack-shared-disk-hdd-control");
  const auto results =
      read_results(run_scenarios(out, sh_quote(kSrc + "/tests/lab/scenarios/power-off-durability.yaml"), "--repeat 5"));
  const auto& rows = results.at("power-off-durability");
  REQUIRE(rows.size() == 5);
  for (const auto& r : rows) {
    INFO(r.verdict << " " << r.reason << " " << r.checkers);
    CHECK(r.lost_acked == "0");
    CHECK(r.checkers.find("durability=pass") != std::string::npos);
    CHECK(r.verdict == "pass");
  }
  WARN("shared-disk on hdd, default settings: 5 power-offs, nothing lost");
}

namespace {

// The generated `power-all` item (haverify plan multi-fault) of the lab's
// inventory, its cluster start bounded at 150 s instead of 300 s: on hdd the
// surviving node answers as primary within about 70 s, and PG-REX keeps the
// old primary out (below), so the start always waits its whole bound.
fs::path power_all_scenario(const fs::path& dir) {
  auto r = sh(fmt::format("{} plan multi-fault --inventory {} --out {}", sh_quote(kBin), sh_quote(inventory_path()),
                          sh_quote((dir / "plan").string())));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path p = dir / "plan" / "power-all.yaml";
  std::string text = slurp(p);
  const std::string from = "cluster: {op: start, timeout: 300s}";
  const auto at = text.find(from);
  INFO(text);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), "cluster: {op: start, timeout: 150s}");
  std::ofstream(p) << text;
  return p;
}

// fsync = off on every node (ALTER SYSTEM on each, then a reload).
void plant_fsync_off() {
  Inventory inv = load_inventory(inventory_path());
  for (const auto& n : inv.nodes) run_statements(n, {"ALTER SYSTEM SET fsync = off", "SELECT pg_reload_conf()"});
}

}  // namespace

// Label `extended` (its own ctest group: about 30 min), issue 15's site
// power loss: pgrex on an hdd lab disk, `power-all` (every node off in one
// step, on again, the cluster started). PG-REX keeps the old primary out
// after such a double failure by design (the pgsql agent refuses to start a
// node holding PGSQL.lock: an operator decides), so no run passes as a
// whole: each run's setup rejoins that node (--repair-at-setup), and the
// test judges what the defect changes, durability and resumption.
//  - Planted, fsync = off on both nodes: a run loses acknowledged writes
//    (durability fails with the count), or no write is ever acknowledged
//    again (failover_s empty: the service did not come back); which one is
//    printed. Up to 3 runs, until one shows it.
//  - Control, the default settings, 5 runs: nothing lost, and writes resume
//    on the surviving node every time.
TEST_CASE("pgrex stack on an hdd lab disk: a site power loss with fsync = off is caught, and loses nothing without it",
          "[stacks-long]") {
  StackLab up("pgrex", "hdd");
  require_healthy(true);
  const fs::path out = fresh_dir("stack-pgrex-power-all");
  const fs::path scenario = power_all_scenario(out);
  plant_fsync_off();
  bool caught = false;
  for (int attempt = 1; attempt <= 3 && !caught; ++attempt) {
    const auto planted = read_results(run_scenarios(out / fmt::format("fsync-off-{}", attempt),
                                                    sh_quote(scenario.string()), "--repair-at-setup", 900s));
    const ResultRow& r = planted.at("power-all").at(0);
    INFO(r.verdict << " " << r.reason << " " << r.checkers);
    const bool lost = !r.lost_acked.empty() && std::stol(r.lost_acked) > 0;
    if (lost) CHECK(r.checkers.find("durability=fail") != std::string::npos);
    caught = lost || r.failover_s.empty();
    WARN(fmt::format("pgrex, fsync = off, site power loss, run {}: {}", attempt,
                     lost                   ? r.lost_acked + " acknowledged writes lost"
                     : r.failover_s.empty() ? "no write was acknowledged again: " + r.reason
                                            : "nothing lost, writes resumed after " + r.failover_s + " s"));
  }
  CHECK(caught);
  // The control, on a cluster rebuilt with the default settings.
  StackLab again("pgrex", "hdd");
  require_healthy(true);
  const auto control =
      read_results(run_scenarios(out / "control", sh_quote(scenario.string()), "--repeat 5 --repair-at-setup", 2400s));
  const auto& rows = control.at("power-all");
  REQUIRE(rows.size() == 5);
  for (const auto& r : rows) {
    INFO(r.verdict << " " << r.reason << " " << r.checkers);
    CHECK(r.lost_acked == "0");
    CHECK(r.checkers.find("durability=pass") != std::string::npos);
    CHECK_FALSE(r.failover_s.empty());
  }
}
