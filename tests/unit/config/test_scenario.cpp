#include <catch2/catch.hpp>

#include "config_issues.hpp"

#include <fmt/format.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/scenario.hpp"

using namespace haverify;
using haverify::testing::scenario_issues;

namespace {
bool has_issue(const std::vector<ConfigIssue>& v, const std::string& key, int line, int col) {
  for (const auto& i : v)
    if (i.key == key && i.line == line && i.col == col) return true;
  return false;
}
}  // namespace

TEST_CASE("a valid scenario parses with steps, checks and repeat", "[unit]") {
  auto sc = parse_scenario(R"(name: p
kind: single-fault
repeat: 3
workload:
  ledger: {clients: 8, commit_deadline: 2500ms}
steps:
  - start: ledger
  - wait: 1.5s
  - inject: {id: a, fault: lan_cut, lan: service, method: nft, direction: in, target: [primary, node3], duration: 2s}
  - inject: {fault: process_kill, process: "name:pgpool", signal: SIGSTOP, target: standby}
  - await_writes: {timeout: 30s}
  - heal: a
  - recover: {}
  - stop: ledger
checks:
  failover_s: {max: 15}
  detect_s: {max: 5}
  promote_s: {max: 10}
  acked_total: {min: 10, max: 1e9}
)",
                           "s.yaml");
  CHECK(sc.name == "p");
  CHECK(sc.repeat == 3);
  REQUIRE(sc.ledger);
  CHECK(sc.ledger->clients == 8);
  CHECK(sc.ledger->commit_deadline == std::chrono::milliseconds(2500));
  REQUIRE(sc.steps.size() == 8);
  CHECK(sc.steps[1].duration == std::chrono::milliseconds(1500));
  const auto& f = sc.steps[2].faults.at(0);
  CHECK(f.kind == "lan_cut");
  CHECK(f.method == "nft");
  CHECK(f.direction == "in");
  CHECK(f.targets == std::vector<std::string>{"primary", "node3"});
  REQUIRE(f.duration);
  CHECK(*f.duration == std::chrono::milliseconds(2000));
  CHECK(sc.steps[3].faults.at(0).signal == "STOP");
  CHECK(sc.steps[4].kind == StepKind::await_writes);
  CHECK(sc.steps[4].duration == std::chrono::milliseconds(30000));
  CHECK(sc.steps[6].duration == std::chrono::milliseconds(120000));
  CHECK(sc.checks.at("failover_s").max == 15);
  CHECK(sc.checks.at("detect_s").max == 5);
  CHECK(sc.checks.at("promote_s").max == 10);
  CHECK(sc.checks.at("acked_total").min == 10);
  REQUIRE(sc.primary_fault());
  CHECK(sc.primary_fault()->id == "a");
}

TEST_CASE("an unknown key is an error with file:line:col", "[unit]") {
  auto v = scenario_issues("name: x\nsteps:\n  - wait: 1s\ncheks:\n  failover_s: {max: 1}\n");
  REQUIRE(v.size() == 1);
  CHECK(v[0].key == "cheks");
  CHECK(v[0].line == 4);
  CHECK(v[0].col == 1);
  CHECK(v[0].str() == "s.yaml:4:1: key 'cheks': unknown key (nothing reads it; check the spelling)");
}

TEST_CASE("nested unknown keys and wrong types are all reported", "[unit]") {
  auto v = scenario_issues(R"(name: x
repeat: many
steps:
  - inject: {fault: power_off, target: primary, colour: red}
  - wait: soon
checks:
  failover_s: {maximum: 3}
)");
  CHECK(has_issue(v, "repeat", 2, 9));
  CHECK(has_issue(v, "steps[0].inject.colour", 4, 49));
  CHECK(has_issue(v, "steps[1].wait", 5, 11));
  CHECK(has_issue(v, "checks.failover_s.maximum", 7, 16));
  CHECK(has_issue(v, "checks.failover_s", 7, 15));  // no min or max left
}

TEST_CASE("semantic errors: fault kinds, targets, heal ids, metrics", "[unit]") {
  auto v = scenario_issues(R"(steps:
  - inject: {fault: meteor, target: primary}
  - inject: {fault: lan_cut, lan: management, target: primary}
  - inject: {fault: process_kill, process: everything, target: primary}
  - inject: {fault: power_off}
  - heal: nothing
  - await_writes: {}
  - dance: now
checks:
  speed: {max: 1}
  lost_acked: {min: 5, max: 1}
)");
  CHECK(has_issue(v, "steps[0].inject.fault", 2, 21));
  CHECK(has_issue(v, "steps[1].inject.lan", 3, 35));
  CHECK(has_issue(v, "steps[2].inject.process", 4, 44));
  CHECK(has_issue(v, "steps[3].inject.target", 5, 13));
  CHECK(has_issue(v, "heal", 6, 5));
  CHECK(has_issue(v, "await_writes", 7, 5));
  CHECK(has_issue(v, "steps[6].dance", 8, 5));
  CHECK(has_issue(v, "checks.speed", 10, 3));
  CHECK(has_issue(v, "checks.lost_acked", 11, 15));
}

TEST_CASE("YAML syntax errors carry a position", "[unit]") {
  auto v = scenario_issues("steps: [\n  - wait: 1s\n");
  REQUIRE(v.size() == 1);
  CHECK(v[0].line > 0);
  CHECK(v[0].message.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("durations", "[unit]") {
  CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
  CHECK(parse_duration("10s") == std::chrono::milliseconds(10000));
  CHECK(parse_duration("1.5s") == std::chrono::milliseconds(1500));
  CHECK(parse_duration("2m") == std::chrono::milliseconds(120000));
  CHECK(parse_duration("1h") == std::chrono::milliseconds(3600000));
  CHECK(parse_duration("3") == std::chrono::milliseconds(3000));
  CHECK_FALSE(parse_duration("3 parsecs"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration(""));
}

TEST_CASE("workloads: ledger and bank are declared or implied by start steps", "[unit]") {
  auto only_ledger = parse_scenario("workload:\n  ledger: {clients: 2}\nsteps:\n  - start: ledger\n", "a.yaml");
  CHECK(only_ledger.ledger);
  CHECK_FALSE(only_ledger.bank);
  auto both = parse_scenario(
      "workload:\n  bank: {clients: 3, accounts: 5}\nsteps:\n  - start: ledger\n  - start: bank\n", "b.yaml");
  REQUIRE(both.bank);
  CHECK(both.bank->clients == 3);
  CHECK(both.bank->accounts == 5);
  CHECK(both.ledger);
  auto implied = parse_scenario("steps:\n  - start: bank\n", "c.yaml");
  CHECK(implied.bank);
  CHECK_FALSE(implied.ledger);
}

TEST_CASE("workloads: reads is declared with its bounds or implied by a start step", "[unit]") {
  auto sc = parse_scenario(
      "workload:\n  reads: {clients: 3, foreign_every: 2, reread_every: 10ms, reread_for: 1s, max_stale: 5, "
      "max_stale_foreign: 0, table: app.rw}\nsteps:\n  - start: reads\n",
      "r.yaml");
  REQUIRE(sc.reads);
  CHECK(sc.reads->clients == 3);
  CHECK(sc.reads->foreign_every == 2);
  CHECK(sc.reads->reread_every == std::chrono::milliseconds(10));
  CHECK(sc.reads->reread_for == std::chrono::milliseconds(1000));
  CHECK(sc.reads->max_stale == 5);
  CHECK(sc.reads->max_stale_foreign == 0);
  CHECK(sc.reads->table == "app.rw");
  auto implied = parse_scenario("steps:\n  - start: reads\n  - stop: reads\n", "i.yaml");
  REQUIRE(implied.reads);
  CHECK(implied.reads->max_stale == 0);
  CHECK(implied.reads->max_stale_foreign == -1);
  CHECK_FALSE(implied.ledger);
  // Bounded and typed: each bad value is reported with its key.
  for (const std::string bad : {"clients: 0", "foreign_every: -1", "max_stale: -1", "max_stale_foreign: -2",
                                "reread_every: 0ms", "reread_every: 11s", "table: 'a b'", "stale: 1"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_scenario("workload:\n  reads: {" + bad + "}\nsteps:\n  - start: reads\n", "b.yaml"),
                    ConfigError);
  }
  CHECK_THROWS_AS(parse_scenario("steps:\n  - start: readz\n", "u.yaml"), ConfigError);
}

TEST_CASE("cluster steps: every operation, role words, timeout and skip_if", "[unit]") {
  auto sc = parse_scenario(R"(kind: normal
steps:
  - start: ledger
  - cluster: {op: switchover, to: sync_standby, timeout: 120s}
  - cluster: {op: switchover, to: original_primary}
  - cluster: {op: stop_node, node: standby:1}
  - cluster: {op: start_node, node: stopped}
  - cluster: {op: rejoin, node: previous_primary}
  - cluster: {op: rebuild, node: standby, skip_if: shared_disk}
  - cluster: {op: stop, skip_if: [shared_disk, "driver:generic"]}
  - cluster: {op: start}
checks:
  op_s: {max: 60}
  stall_s: {max: 30}
)",
                           "n.yaml");
  REQUIRE(sc.steps.size() == 9);
  CHECK(sc.has_cluster_steps());
  const auto& sw = sc.steps[1];
  CHECK(sw.kind == StepKind::cluster);
  CHECK(sw.cluster.op == "switchover");
  CHECK(sw.cluster.node == "sync_standby");
  CHECK(sw.cluster.timeout == std::chrono::milliseconds(120000));
  CHECK(sw.describe() == "cluster switchover to sync_standby");
  CHECK(sc.steps[2].cluster.timeout == std::chrono::milliseconds(300000));  // the default
  CHECK(sc.steps[3].describe() == "cluster stop_node standby:1");
  CHECK(sc.steps[4].cluster.node == "stopped");
  CHECK(sc.steps[6].cluster.skip_if == std::vector<std::string>{"shared_disk"});
  CHECK(sc.steps[6].describe() == "cluster rebuild standby (skip_if shared_disk)");
  CHECK(sc.steps[7].cluster.skip_if == std::vector<std::string>{"shared_disk", "driver:generic"});
  CHECK(sc.steps[8].describe() == "cluster start");
  CHECK(sc.checks.at("op_s").max == 60);
  CHECK(sc.checks.at("stall_s").max == 30);
  CHECK_FALSE(parse_scenario("steps:\n  - wait: 1s\n", "w.yaml").has_cluster_steps());
}

TEST_CASE("cluster steps: malformed ones are errors with file:line:col and the key", "[unit]") {
  auto v = scenario_issues(R"(steps:
  - cluster: {op: start_node, node: stopped}
  - cluster: {op: reboot}
  - cluster: {op: stop_node}
  - cluster: {op: switchover, node: node2}
  - cluster: {op: stop, node: node1}
  - cluster: {op: switchover, to: primary}
  - cluster: {op: stop_node, node: "standby:0"}
  - cluster: {op: rebuild, node: all}
  - cluster: {op: stop_node, node: stopped}
  - cluster: {op: rejoin, node: node1, to: node2, timeout: 10ms, skip_if: full_moon}
  - cluster: switchover
  - cluster: {op: start, colour: red}
)");
  CHECK(has_issue(v, "cluster.node", 2, 5));                // stopped before any stop_node
  CHECK(has_issue(v, "steps[1].cluster.op", 3, 19));        // unknown operation
  CHECK(has_issue(v, "steps[2].cluster.node", 4, 14));      // missing
  CHECK(has_issue(v, "steps[3].cluster.to", 5, 14));        // missing
  CHECK(has_issue(v, "steps[3].cluster.node", 5, 37));      // a switchover uses `to`
  CHECK(has_issue(v, "steps[4].cluster.node", 6, 31));      // the whole cluster: no node
  CHECK(has_issue(v, "steps[5].cluster.to", 7, 35));        // to the primary: nothing
  CHECK(has_issue(v, "steps[6].cluster.node", 8, 36));      // standby:0
  CHECK(has_issue(v, "steps[7].cluster.node", 9, 34));      // one node only
  CHECK(has_issue(v, "steps[8].cluster.node", 10, 36));     // stop_node of `stopped`
  CHECK(has_issue(v, "steps[9].cluster.to", 11, 44));       // only switchover has `to`
  CHECK(has_issue(v, "steps[9].cluster.timeout", 11, 60));  // under 1s
  CHECK(has_issue(v, "steps[9].cluster.skip_if", 11, 75));  // unknown condition
  CHECK(has_issue(v, "steps[10].cluster", 12, 14));         // not a mapping
  CHECK(has_issue(v, "steps[11].cluster.colour", 13, 26));  // unknown key
  CHECK(has_issue(scenario_issues("steps:\n  - cluster: {op: rejoin, node: previous_primary}\n"), "cluster.node", 2,
                  5));  // previous_primary before any switchover
  bool lists_ops = false;
  for (const auto& i : v)
    if (i.key == "steps[1].cluster.op")
      lists_ops =
          i.message.find("switchover, stop_node, start_node, rejoin, rebuild, stop, start") != std::string::npos;
  CHECK(lists_ops);
}

TEST_CASE("expect: an outcome with its bounds, split-brain-risk and unknown outcomes are errors", "[unit]") {
  auto sc = parse_scenario(R"(steps:
  - wait: 1s
expect: {outcome: failover, resume_within: 20s, max_write_gap: 5s, min_outage: 2s}
)",
                           "e.yaml");
  REQUIRE(sc.expect);
  CHECK(sc.expect->outcome == "failover");
  CHECK(sc.expect->resume_within == std::chrono::seconds(20));
  CHECK(sc.expect->max_write_gap == std::chrono::seconds(5));
  CHECK(sc.expect->min_outage == std::chrono::seconds(2));
  CHECK_FALSE(parse_scenario("steps:\n  - wait: 1s\n", "n.yaml").expect);
  try {
    parse_scenario("steps:\n  - wait: 1s\nexpect: {outcome: split-brain-risk, resume_in: 3s}\n", "bad.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    CHECK(what.find("bad.yaml:3:19: key 'expect.outcome': expected one of failover, no-failover") != std::string::npos);
    CHECK(what.find("split-brain-risk is no outcome to sign off") != std::string::npos);
    CHECK(what.find("key 'expect.resume_in': unknown key") != std::string::npos);
  }
}

TEST_CASE("recover: settle is how long health must hold, await_writes has none", "[unit]") {
  auto sc = parse_scenario("steps:\n  - recover: {timeout: 30s, settle: 2s}\n  - recover: {}\n", "r.yaml");
  REQUIRE(sc.steps.size() == 2);
  CHECK(sc.steps[0].duration == std::chrono::seconds(30));
  CHECK(sc.steps[0].settle == std::chrono::seconds(2));
  CHECK(sc.steps[1].settle == std::chrono::seconds(10));  // the default
  try {
    parse_scenario("steps:\n  - start: ledger\n  - await_writes: {timeout: 5s, settle: 1s}\n", "a.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("settle': unknown key") != std::string::npos);
  }
}

TEST_CASE("recover: repair is allowed or forbidden (the default), anything else is an error", "[unit]") {
  auto sc = parse_scenario(
      "steps:\n  - recover: {repair: allowed}\n  - recover: {repair: forbidden}\n  - recover: {}\n", "r.yaml");
  REQUIRE(sc.steps.size() == 3);
  CHECK(sc.steps[0].repair_allowed);
  CHECK_FALSE(sc.steps[1].repair_allowed);
  CHECK_FALSE(sc.steps[2].repair_allowed);
  try {
    parse_scenario("steps:\n  - recover: {repair: yes}\n", "r.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("r.yaml:2:23: key 'steps[0].recover.repair': expected 'allowed' or 'forbidden'") !=
          std::string::npos);
  }
}

namespace {
// The error of a scenario file p.yaml, or "no error".
std::string error_of(const std::string& yaml) {
  try {
    parse_scenario(yaml, "p.yaml");
  } catch (const ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}
}  // namespace

TEST_CASE("lan_cut port: one port of a LAN with nft, the management LAN only that way", "[unit]") {
  auto sc = parse_scenario(
      "steps:\n  - inject: {fault: lan_cut, lan: management, method: nft, port: 5432, target: primary}\n", "p.yaml");
  REQUIRE(sc.steps.size() == 1);
  REQUIRE(sc.steps[0].faults.at(0).port);
  CHECK(*sc.steps[0].faults[0].port == 5432);
  CHECK(sc.steps[0].faults[0].describe() == "lan_cut management:5432 of primary (nft)");
  CHECK(error_of("steps:\n  - inject: {fault: lan_cut, lan: management, target: primary}\n")
            .find("cannot be cut (one port of it can: method: nft, port: 5432)") != std::string::npos);
  CHECK(error_of("steps:\n  - inject: {fault: lan_cut, lan: service, port: 5432, target: primary}\n")
            .find("a cut of one port needs method: nft") != std::string::npos);
  CHECK(error_of("steps:\n  - inject: {fault: lan_cut, lan: service, method: nft, port: 70000, target: primary}\n")
            .find("from 1 to 65535") != std::string::npos);
}

TEST_CASE("lan_cut peer: a cut between two hosts, with nft only", "[unit]") {
  auto sc = parse_scenario(
      "steps:\n  - inject: {fault: lan_cut, lan: service, method: nft, target: standby:1, peer: primary}\n", "p.yaml");
  REQUIRE(sc.steps.size() == 1);
  CHECK(sc.steps[0].faults.at(0).peer == "primary");
  CHECK(sc.steps[0].faults[0].describe() == "lan_cut service of standby:1 with primary (nft)");
  CHECK(parse_scenario("steps:\n  - inject: {fault: lan_cut, lan: service, method: nft, target: node2, peer: "
                       "standby:2}\n",
                       "p.yaml")
            .steps[0]
            .faults[0]
            .peer == "standby:2");
  CHECK(error_of("steps:\n  - inject: {fault: lan_cut, lan: service, target: node2, peer: primary}\n")
            .find("p.yaml:2:65: key 'steps[0].inject.peer': a cut between two hosts needs method: nft") !=
        std::string::npos);
  for (const char* bad : {"all", "pool", "standby:0", "'standby:'", "'a b'", "'x;y'"})
    CHECK(error_of(fmt::format("steps:\n  - inject: {{fault: lan_cut, lan: service, method: nft, target: node2, "
                               "peer: {}}}\n",
                               bad))
              .find("expected one node name or role") != std::string::npos);
}
