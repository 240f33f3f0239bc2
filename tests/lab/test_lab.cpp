// Real-lab integration tests (label `lab`). CTest brings the lab up once
// (fixture `lab-up`) and always tears it down (`lab-down`), even when a test
// fails; each test case below runs in its own process against that lab.
// The Pacemaker and Patroni stacks are in test_lab_stacks.cpp.
#include "lab_support.hpp"
#include "report_html_check.hpp"

using namespace labtest;

// Covers issue 2's walking skeleton and issue 4's planted defects (b) and (c):
// on the healthy synchronous pgpool stack, power-off and kill -9 of the
// primary pass every checker with no acknowledged write lost; the service-LAN
// cut of the primary is a split brain (the old primary stays writable), which
// the single-writer checker must report.
TEST_CASE("single-fault suite on the pgpool lab: failovers pass, the service-LAN cut is a split brain", "[lab]") {
  const fs::path out = fresh_dir("suite");
  const auto results = read_results(run_scenarios(out, "scenarios/single-fault"));
  // Keep pgpool's logs with the run: the lab (and its state) is torn down after the tests.
  sh(fmt::format("cp -r {}/pool {}/lab-pool-logs", sh_quote(state_dir()), sh_quote(out.string())), 30s);
  for (const char* sc : {"power-off-primary", "kill-postmaster-primary", "lan-cut-service-primary"}) {
    REQUIRE(results.count(sc) == 1);
    const auto& r = results.at(sc).at(0);
    INFO(sc << ": " << r.verdict << " " << r.reason);
    CHECK_FALSE(r.t_inject_sent.empty());
    CHECK_FALSE(r.t_first_write.empty());
    REQUIRE_FALSE(r.failover_s.empty());
    CHECK(std::stod(r.failover_s) > 0.0);
    CHECK(std::stod(r.failover_s) < 15.0);
    CHECK(r.lost_acked == "0");
    CHECK(std::stol(r.acked_total) >= 1000);
    WARN(fmt::format("{}: failover_s={} acked={} verdict={}", sc, r.failover_s, r.acked_total, r.verdict));
    // Issue 13: every acknowledged write through pgpool is attributed to the backend that took it;
    // the writes moved from the old primary to the new one, or (the service-LAN cut) two nodes took
    // acknowledged writes in overlapping time, and the checker says which. (The primary is the
    // node the suite's previous failover left, not always node1.)
    const std::string checkers = slurp(fs::path(r.run_dir) / "checkers.txt");
    INFO(checkers);
    CHECK(checkers.find("acknowledged writes by node: node") != std::string::npos);
    CHECK(checkers.find("  unattributed_writes = 0\n") != std::string::npos);
    CHECK(checkers.find("  write_nodes = 2\n") != std::string::npos);
    const bool moved =
        checkers.find("no acknowledged writes on two nodes in overlapping time: node") != std::string::npos;
    const bool overlapped = checkers.find(
                                "split brain in the writes: acknowledged writes on two nodes in "
                                "overlapping time, node") != std::string::npos;
    CHECK(moved != overlapped);
    if (std::string(sc) != "lan-cut-service-primary") CHECK(moved);
    // Issue 18 item 5: pgpool's effective health-check settings and counters, with the run's status.
    const std::string status = slurp(fs::path(r.run_dir) / "status-before.txt");
    INFO(status);
    CHECK(status.find("PGPOOL SHOW health_check:\nitem | value | description\n") != std::string::npos);
    CHECK(status.find("\nhealth_check_period | 1 | ") != std::string::npos);
    CHECK(status.find("SHOW pool_health_check_stats:\nnode_id | hostname | port | status | ") != std::string::npos);
    WARN(fmt::format("{}: writes {}", sc, moved ? "moved to the new primary" : "overlapped on two nodes"));
    if (std::string(sc) == "lan-cut-service-primary") {
      CHECK(r.verdict == "fail");
      CHECK(r.checkers.find("single_writer=fail") != std::string::npos);
      CHECK(std::stol(r.split_brain_windows) >= 1);
      CHECK(r.reason.find("split brain") != std::string::npos);
      CHECK(r.checkers.find("durability=pass") != std::string::npos);
      // pgpool did fail over (the promised outcome): the split brain is single_writer's finding.
      CHECK(r.checkers.find("expectation=pass") != std::string::npos);
      // Issue 16: the suite's report.html shows it, as read by a browser.
      check_split_brain_report(out / "suite", r.run_dir);
    } else {
      CHECK(r.verdict == "pass");
      // expectation: the scenario's expect: block (issue 13) is a checker too.
      CHECK(r.checkers == "durability=pass single_writer=pass convergence=pass expectation=pass");
      CHECK(r.split_brain_windows == "0");
    }
  }
  const std::string junit = slurp(out / "suite" / "junit.xml");
  CHECK(junit.find("tests=\"3\" failures=\"1\" errors=\"0\"") != std::string::npos);
  CHECK(junit.find("name=\"power-off-primary #1\"") != std::string::npos);
}

namespace {

struct PlanResult {
  std::string id, bounds, verdict, failover_s, reason, run_dir;
};

std::vector<PlanResult> read_plan(const fs::path& p) {
  io::CSVReader<6, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(p.string());
  in.read_header(io::ignore_extra_column, "id", "bounds", "verdict", "failover_s", "reason", "run_dir");
  std::vector<PlanResult> out;
  PlanResult r;
  while (in.read_row(r.id, r.bounds, r.verdict, r.failover_s, r.reason, r.run_dir)) out.push_back(r);
  return out;
}

}  // namespace

// Issue 5's representative subset for CI (the full suites are documented
// commands): a single-fault sheet generated from the lab's inventory, edited
// as in a spreadsheet (rows removed and reordered, bounds changed), run, and
// written back with every row filled; the named multi-fault combination
// fired at one barrier with its injection skew recorded.
TEST_CASE("suites on the pgpool lab: an edited plan sheet runs and fills its rows, a multi-fault skew is recorded",
          "[lab]") {
  const fs::path out = fresh_dir("plan");
  auto r = sh(fmt::format("{} plan single-fault --inventory {} --out {}", sh_quote(kBin), sh_quote(inventory_path()),
                          sh_quote((out / "single").string())));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("16 single-fault item(s)") != std::string::npos);
  // Keep two rows, in the reverse order, and tighten one's bounds.
  std::vector<std::string> keep;
  std::string header;
  {
    std::ifstream in(out / "single" / "plan.csv");
    std::string line;
    std::getline(in, header);
    while (std::getline(in, line))
      if (line.rfind("kill-postmaster-standby1,", 0) == 0 || line.rfind("cut-interconnect-standby2,", 0) == 0)
        keep.insert(keep.begin(), line);
  }
  // The plan lists the kill before the cut: the sheet now has them reversed.
  REQUIRE(keep.size() == 2);
  REQUIRE(keep[0].rfind("cut-interconnect-standby2,", 0) == 0);
  REQUIRE(keep[1].rfind("kill-postmaster-standby1,", 0) == 0);
  keep[1] = std::regex_replace(keep[1], std::regex("lost_acked==0"), "lost_acked==0;acked_total>=100");
  // The expected outcome is asserted: the interconnect cut of a standby keeps the primary, so a
  // sheet that says `failover` must fail that row, naming both outcomes (issue 13).
  REQUIRE(keep[0].find(",no-failover,") != std::string::npos);
  keep[0] = std::regex_replace(keep[0], std::regex(",no-failover,"), ",failover,");
  {
    // Next to the scenarios: a sheet names them relative to its folder.
    std::ofstream sheet(out / "single" / "sheet.csv", std::ios::binary);
    sheet << header << "\n" << keep[0] << "\n" << keep[1] << "\n";
  }
  r = sh(fmt::format("cd {} && HAVERIFY_LEDGER={} {} run --plan {} --inventory {} --out {} --seed 5", sh_quote(kSrc),
                     sh_quote((out / "ledger.json").string()), sh_quote(kBin),
                     sh_quote((out / "single" / "sheet.csv").string()), sh_quote(inventory_path()),
                     sh_quote((out / "run").string())),
         900s);
  INFO(r.out << r.err);
  CHECK((r.exit_code == 0 || r.exit_code == 1));
  CHECK_FALSE(fs::exists(out / "ledger.json"));
  const auto rows = read_plan(out / "single" / "sheet.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == "cut-interconnect-standby2");
  CHECK(rows[1].id == "kill-postmaster-standby1");
  CHECK(rows[1].bounds.find("acked_total>=100") != std::string::npos);
  for (const auto& row : rows) {
    INFO(row.id << ": " << row.verdict << " " << row.reason);
    CHECK((row.verdict == "pass" || row.verdict == "fail"));
    CHECK_FALSE(row.reason.empty());
    CHECK(fs::exists(fs::path(row.run_dir) / "results.csv"));
    WARN(fmt::format("plan row {}: {} ({})", row.id, row.verdict, row.reason));
  }
  // Neither fault stops the pgpool service: no failover, nothing lost. The row edited to
  // expect a failover fails, saying what was expected and what was observed; the other passes.
  CHECK(rows[0].verdict == "fail");
  CHECK(rows[0].reason.find("expectation fail: expected failover, observed: the primary stayed ") != std::string::npos);
  CHECK(rows[1].verdict == "pass");

  // The named combination: the primary's service LAN and, at the same
  // instant, the replication LAN of every node (three actions, one barrier).
  r = sh(fmt::format("{} plan multi-fault --inventory {} --out {}", sh_quote(kBin), sh_quote(inventory_path()),
                     sh_quote((out / "multi").string())));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto results = read_results(
      run_scenarios(out / "multi-run", sh_quote((out / "multi" / "svc-primary_x_repl-both.yaml").string())));
  REQUIRE(results.count("svc-primary_x_repl-both") == 1);
  const fs::path run_csv = out / "multi-run" / "suite" / "results.csv";
  io::CSVReader<2, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(run_csv.string());
  in.read_header(io::ignore_extra_column, "injection_skew_ms", "verdict");
  std::string skew, verdict;
  REQUIRE(in.read_row(skew, verdict));
  INFO("verdict " << verdict << ", skew " << skew);
  REQUIRE_FALSE(skew.empty());
  CHECK(std::stod(skew) >= 0.0);
  WARN(fmt::format("svc-primary_x_repl-both on pgpool: injection_skew_ms={} verdict={}", skew, verdict));
}

// Issue 5's long-run, shortened: a process on the primary that grows by
// 1 MB a second must be flagged by the memory_growth checker, from RSS
// samples taken over SSH and written to series.csv.
TEST_CASE("long-run on the pgpool lab: a planted leak is flagged by memory_growth", "[lab]") {
  const fs::path out = fresh_dir("leak");
  const auto results = read_results(run_scenarios(out, "scenarios/long-run/planted-leak.yaml", "--duration 20s"));
  REQUIRE(results.count("planted-leak") == 1);
  const auto& r = results.at("planted-leak").at(0);
  INFO(r.verdict << " " << r.reason << " " << r.checkers);
  CHECK(r.verdict == "fail");
  CHECK(r.checkers.find("memory_growth=fail") != std::string::npos);
  CHECK(r.reason.find("hv-leak") != std::string::npos);
  CHECK(r.lost_acked == "0");
  // The series has the leak's samples.
  fs::path series;
  for (const auto& e : fs::directory_iterator(out / "suite"))
    if (fs::exists(e.path() / "series.csv")) series = e.path() / "series.csv";
  REQUIRE_FALSE(series.empty());
  const std::string text = slurp(series);
  CHECK(text.find("hv-leak") != std::string::npos);
  WARN("planted leak: " << r.reason);
}

namespace {

struct OperationRow {
  std::string op, node, duration_s, stall_s, outcome, detail;
};

std::vector<OperationRow> read_operations(const fs::path& p) {
  io::CSVReader<6, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(p.string());
  in.read_header(io::ignore_extra_column, "op", "node", "duration_s", "stall_s", "outcome", "detail");
  std::vector<OperationRow> out;
  OperationRow r;
  while (in.read_row(r.op, r.node, r.duration_s, r.stall_s, r.outcome, r.detail)) out.push_back(r);
  return out;
}

}  // namespace

// Issue 5's normal suite on a real cluster: start and stop of the whole
// cluster, a switchover and back, a standby stopped and started, the failback
// of a powered-off primary and the rebuild of a standby, each through the
// pgpool driver under write load; every scenario passes with nothing lost,
// and every planned operation is in operations.csv with its duration and
// the write stall it caused. Label `extended` (a full suite: 196 s of CI's
// lab time; the stack tests run a switchover and a rejoin through every driver).
TEST_CASE("normal suite on the pgpool lab: every planned operation succeeds and is timed", "[extended]") {
  const fs::path out = fresh_dir("normal");
  const auto results = read_results(run_scenarios(out, "scenarios/normal"));
  const std::map<std::string, std::vector<std::string>> expected_ops = {
      {"start-stop-cluster", {"stop", "start"}},
      {"switchover-and-back", {"switchover", "rejoin", "switchover", "rejoin"}},
      {"standby-stop-start", {"stop_node", "start_node"}},
      {"failback-rejoin", {"rejoin", "switchover", "rejoin"}},
      {"rebuild-standby", {"rebuild"}},
  };
  REQUIRE(results.size() == expected_ops.size());
  for (const auto& [name, ops] : expected_ops) {
    REQUIRE(results.count(name) == 1);
    const auto& r = results.at(name).at(0);
    INFO(name << ": " << r.verdict << " " << r.reason);
    CHECK(r.verdict == "pass");
    CHECK(r.lost_acked == "0");
    CHECK(std::stol(r.acked_total) >= 1000);
    CHECK(r.split_brain_windows == "0");
    fs::path dir;
    for (const auto& e : fs::directory_iterator(out / "suite"))
      if (e.path().filename().string().find(name) != std::string::npos) dir = e.path();
    REQUIRE_FALSE(dir.empty());
    const auto rows = read_operations(dir / "operations.csv");
    REQUIRE(rows.size() == ops.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      INFO(name << " operation " << i << ": " << rows[i].op << " " << rows[i].node << " " << rows[i].detail);
      CHECK(rows[i].op == ops[i]);
      CHECK(rows[i].outcome == "ok");
      CHECK(std::stod(rows[i].duration_s) > 0.0);
      CHECK(std::stod(rows[i].stall_s) >= 0.0);
      WARN(fmt::format("{}: {} {} took {} s, writes stalled {} s", name, rows[i].op, rows[i].node, rows[i].duration_s,
                       rows[i].stall_s));
    }
  }
  // The cluster ends healthy: one primary, as it started.
  Inventory inv = load_inventory(inventory_path());
  std::size_t primaries = 0;
  for (const auto& s : probe_all(inv, 2000ms))
    if (s.role == Role::primary) ++primaries;
  CHECK(primaries == 1);
}

// Issue 13: probes blinded to the primary (an nft drop of PostgreSQL's port on
// its management address only: the probes' path; pgpool reaches the backends
// over the service LAN, so the clients are unaffected), and the primary's
// service LAN cut, so pgpool promotes a standby while the old primary stays
// writable. The probes cannot see the old primary: single_writer must say
// unknown or fail, never pass. A cut of the probes' path is refused unless it
// heals itself on the node (issue 17), so the blind is self-healing; its step
// lasts the blind, so both faults are fired in one step (the blind begins
// self_heal_arm after the service cut, seconds before pgpool promotes).
TEST_CASE("probes blinded to the primary while a standby is promoted: single_writer is never pass", "[lab]") {
  const fs::path out = fresh_dir("blind");
  const fs::path sc = out / "blind-probes.yaml";
  std::ofstream(sc) << R"(name: blind-probes
kind: single-fault
workload:
  ledger: {clients: 4, connect_deadline: 3s, commit_deadline: 3s}
steps:
  - start: ledger
  - wait: 3s
  - inject:
      - {id: blind, fault: lan_cut, lan: management, method: nft, port: 5432, target: primary, duration: 30s,
         self_heal: true}
      - {id: cut, fault: lan_cut, lan: service, target: primary}
  - await_writes: {timeout: 60s}
  - wait: 5s
  - heal: all
  - recover: {timeout: 180s}
  - stop: ledger
)";
  const auto rows = read_results(run_scenarios(out, sh_quote(sc.string())));
  REQUIRE(rows.count("blind-probes") == 1);
  const ResultRow& r = rows.at("blind-probes").front();
  const std::string checkers = slurp(fs::path(r.run_dir) / "checkers.txt");
  INFO(r.verdict << " " << r.reason << "\n" << checkers);
  CHECK(r.checkers.find("single_writer=pass") == std::string::npos);
  CHECK((r.checkers.find("single_writer=unknown") != std::string::npos ||
         r.checkers.find("single_writer=fail") != std::string::npos));
  CHECK(r.verdict != "pass");
  // The old primary went unseen while the new one was writable.
  CHECK(checkers.find("split brain not excluded: node") != std::string::npos);
  CHECK(checkers.find("acknowledged writes by node: node") != std::string::npos);
  WARN("blinded probes: " << r.checkers);
}

// Issue 4's planted defect (a): with asynchronous replication and a busy
// workload, powering off the primary loses acknowledged writes; the
// durability checker must say so. Bounded: at most 10 tries. Label
// `extended` (not in CI's set): durability's planted defects are also unit
// tests, and the lab's synchronous runs prove its healthy control.
TEST_CASE("asynchronous replication loses acknowledged writes on power-off, and durability fails", "[extended]") {
  struct RestoreSyncLab {
    ~RestoreSyncLab() { sh(lab("up --stack pgpool --fence off"), 300s); }
  } restore;
  auto up = sh(lab("up --stack pgpool --fence off --replication async"), 300s);
  INFO(up.out << up.err);
  REQUIRE(up.exit_code == 0);
  const fs::path out = fresh_dir("async");
  const auto results = read_results(run_scenarios(out, sh_quote(kSrc + "/tests/lab/scenarios/async-power-off.yaml"),
                                                  "--repeat 10 --stop-after-fail"));
  const auto& rows = results.at("async-power-off");
  bool caught = false;
  for (const auto& r : rows) {
    INFO(r.verdict << " " << r.reason);
    if (r.verdict == "fail" && !r.lost_acked.empty() && std::stol(r.lost_acked) > 0) {
      caught = true;
      CHECK(r.checkers.find("durability=fail") != std::string::npos);
      CHECK(r.reason.find("lost_acked") != std::string::npos);
      WARN(fmt::format("async lab: {} acknowledged writes lost after {} tries", r.lost_acked, rows.size()));
    }
  }
  CHECK(caught);
}

TEST_CASE("a scenario with an unknown key or a wrong type exits 2 with file:line:col and injects nothing", "[lab]") {
  const fs::path dir = fresh_dir("badscenario");
  fs::path bad = dir / "bad.yaml";
  std::ofstream(bad) << "name: bad\nsteps:\n  - start: ledger\n  - inject: {fault: power_off, target: primary, when: "
                        "now}\n  - wait: soon\n";
  auto r = sh(fmt::format("HAVERIFY_LEDGER={} {} run {} --inventory {} --out {}",
                          sh_quote((dir / "ledger.json").string()), sh_quote(kBin), sh_quote(bad.string()),
                          sh_quote(inventory_path()), sh_quote((dir / "out").string())));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(bad.string() + ":4:49: key 'steps[1].inject.when': unknown key") != std::string::npos);
  CHECK(r.err.find(bad.string() + ":5:11: key 'steps[2].wait'") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "ledger.json"));
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("an inventory with an unreachable node or a wrong host key exits 2 before any fault", "[lab]") {
  const fs::path dir = fresh_dir("badinventory");
  const auto inv = load_inventory(inventory_path());
  std::string text = slurp(inventory_path());
  const auto before = probe_all(inv, 2000ms);

  SECTION("unreachable node") {
    // 198.18.0.99 is on the lab's management LAN but no node has it.
    const std::string host = inv.nodes[1].ssh.host;
    text.replace(text.find("host: " + host), 6 + host.size(), "host: 198.18.0.99");
  }
  SECTION("host key does not match known_hosts") {
    fs::path kh = dir / "known_hosts";
    std::string lines = slurp(inv.nodes[0].ssh.known_hosts);
    std::string key0, key1;
    std::istringstream in(lines);
    std::string line;
    std::map<std::string, std::string> by_host;
    while (std::getline(in, line)) {
      auto sp = line.find(' ');
      if (sp != std::string::npos) by_host[line.substr(0, sp)] = line.substr(sp + 1);
    }
    // Give node1's address node2's key.
    by_host[inv.nodes[0].ssh.host] = by_host.at(inv.nodes[1].ssh.host);
    std::ofstream out(kh);
    for (const auto& [h, k] : by_host) out << h << ' ' << k << '\n';
    out.close();
    const std::string old_kh = inv.nodes[0].ssh.known_hosts;
    for (std::size_t p; (p = text.find(old_kh)) != std::string::npos;) text.replace(p, old_kh.size(), kh.string());
  }
  fs::path bad = dir / "inventory.yaml";
  std::ofstream(bad) << text;
  auto r =
      sh(fmt::format(
             "cd {} && HAVERIFY_LEDGER={} {} run scenarios/single-fault/power-off-primary.yaml --inventory {} --out {}",
             sh_quote(kSrc), sh_quote((dir / "ledger.json").string()), sh_quote(kBin), sh_quote(bad.string()),
             sh_quote((dir / "out").string())),
         120s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 2);
  CHECK((r.err.find("198.18.0.99") != std::string::npos || r.err.find("does not match") != std::string::npos));
  CHECK_FALSE(fs::exists(dir / "ledger.json"));
  // Nothing changed on the cluster: the same roles answer.
  const auto after = probe_all(inv, 2000ms);
  for (std::size_t i = 0; i < before.size(); ++i)
    CHECK(to_string(after[i].role) == std::string(to_string(before[i].role)));
}

TEST_CASE("Ctrl-C during an injected LAN cut heals it", "[lab]") {
  const fs::path dir = fresh_dir("sigint");
  const auto inv = load_inventory(inventory_path());
  const std::string node = some_standby(inv);
  auto c = start_cut_run(dir, write_long_cut_scenario(dir, node), node);
  REQUIRE(::kill(c.id(), SIGINT) == 0);
  std::error_code ec;
  REQUIRE(c.wait_for(std::chrono::seconds(60), ec));
  INFO(slurp(dir / "stdout.txt") << slurp(dir / "stderr.txt"));
  CHECK(c.exit_code() == 3);
  CHECK(link_up(node, "svc0"));
  CHECK_FALSE(fs::exists(dir / "ledger.json"));
  CHECK(slurp(dir / "stderr.txt").find("every injected fault was healed") != std::string::npos);
}

TEST_CASE("kill -9 of haverify during a LAN cut, then `haverify heal`, restores connectivity", "[lab]") {
  const fs::path dir = fresh_dir("sigkill");
  const auto inv = load_inventory(inventory_path());
  const std::string node = some_standby(inv);
  auto c = start_cut_run(dir, write_long_cut_scenario(dir, node), node);
  REQUIRE(::kill(c.id(), SIGKILL) == 0);
  c.wait();
  CHECK_FALSE(link_up(node, "svc0"));  // the crash left the cut in place
  auto ledger = faults::FaultLedger((dir / "ledger.json").string()).entries();
  REQUIRE(ledger.size() == 1);
  CHECK(ledger[0].node == node);
  auto r = sh(fmt::format("{} heal --ledger {}", sh_quote(kBin), sh_quote((dir / "ledger.json").string())), 60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("healed: lan_cut service") != std::string::npos);
  CHECK(link_up(node, "svc0"));
  CHECK_FALSE(fs::exists(dir / "ledger.json"));
  // The node reaches pgpool over the service LAN again (a TCP connect, no ping in the image).
  auto tcp = sh(lab(fmt::format("exec {} -- timeout 5 bash -c {}", node,
                                sh_quote("exec 3<>/dev/tcp/" + inv.endpoint.host + "/" + inv.endpoint.port))),
                20s);
  INFO(tcp.out << tcp.err);
  CHECK(tcp.exit_code == 0);
}
