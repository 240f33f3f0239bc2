#include <catch2/catch.hpp>

#include "config_issues.hpp"

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <regex>

#include <fmt/format.h>

#include "faults/fault.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/transport.hpp"

using namespace haverify;
using namespace std::chrono_literals;
using haverify::testing::inventory_issues;

namespace {
const char* kInventory = R"(name: t
stack: pgpool
lans:
  management: {subnet: 198.18.0.0/24}
  service: {subnet: 198.18.1.0/24}
ssh: {user: root, key: /k, known_hosts: /kh}
lab: {script: /opt/lab/haverify-lab, state_dir: /var/lib/haverify-lab}
nodes:
  - name: node1
    ssh: {host: 198.18.0.11}
    interfaces:
      management: {ifname: mgmt0, address: 198.18.0.11/24}
      service: {ifname: svc0, address: 198.18.1.11/24}
    postgres: {port: 5432, data_dir: /var/lib/postgresql/15/main}
    power: {controller: lab}
  - name: node2
    ssh: {host: 198.18.0.12, port: 2222}
    interfaces:
      service: {ifname: svc0, address: 198.18.1.12/24}
    postgres: {}
    power:
      controller: command
      off: "ipmitool -H {bmc} power off"
      on: "ipmitool -H {bmc} power on"
      status: "ipmitool -H {bmc} power status"
      vars: {bmc: 198.18.9.12}
endpoint: {kind: pgpool, host: 198.18.1.10, port: 9999}
driver: {type: pgpool, pcp_host: 198.18.0.10, pcp_user: pcpadmin}
)";

}  // namespace

TEST_CASE("an inventory parses with defaults inherited by nodes", "[unit]") {
  auto inv = parse_inventory(kInventory, "inv.yaml");
  REQUIRE(inv.nodes.size() == 2);
  CHECK(inv.stack == "pgpool");
  CHECK(inv.nodes[0].ssh.key_file == "/k");
  CHECK(inv.nodes[0].ssh.known_hosts == "/kh");
  CHECK(inv.nodes[1].ssh.port == 2222);
  CHECK(inv.nodes[0].postgres.host == "198.18.0.11");  // defaults to the SSH host
  CHECK(inv.nodes[0].interface_on("service")->ifname == "svc0");
  CHECK(inv.nodes[1].interface_on("replication") == nullptr);
  CHECK(inv.endpoint.port == "9999");
  CHECK(inv.driver.pcp_port == 9898);
  REQUIRE(inv.lab);
}

TEST_CASE("driver start/stop commands: defaults per manager, refused where pg_ctl is used", "[unit]") {
  auto with_driver = [](const std::string& driver) {
    std::string text = kInventory;
    text.replace(text.find("driver: {type: pgpool"), std::string::npos, driver + "\n");
    return text;
  };
  const auto pcmk = parse_inventory(
      with_driver("driver: {type: pacemaker, resource: pgsql-clone, repl_host: 198.18.2.100, rejoin_script: /r.sh}"),
      "inv.yaml");
  CHECK(pcmk.driver.start_command == "systemctl start pacemaker");
  CHECK(pcmk.driver.stop_command == "systemctl stop pacemaker corosync");
  const auto patroni =
      parse_inventory(with_driver("driver: {type: patroni, stop_command: /bin/bash /l/node.sh stop 60}"), "inv.yaml");
  CHECK(patroni.driver.start_command == "systemctl start patroni");
  CHECK(patroni.driver.stop_command == "/bin/bash /l/node.sh stop 60");
  const auto pgpool = parse_inventory(kInventory, "inv.yaml");
  CHECK(pgpool.driver.start_command.empty());
  CHECK(pgpool.driver.stop_command.empty());
  const auto v = inventory_issues(
      with_driver("driver: {type: pgpool, pcp_host: 198.18.0.10, pcp_user: pcpadmin, stop_command: pg_ctl stop}"));
  REQUIRE(v.size() == 1);
  CHECK(v[0].key == "driver.stop_command");
  CHECK(v[0].message.find("not used by the pgpool driver") != std::string::npos);
}

TEST_CASE("inventory errors are reported with positions", "[unit]") {
  std::string bad = kInventory;
  bad.replace(bad.find("port: 2222"), 10, "prot: 2222");
  bad.replace(bad.find("kind: pgpool"), 12, "kind: anycast");
  auto v = inventory_issues(bad);
  bool saw_prot = false, saw_kind = false;
  for (const auto& i : v) {
    if (i.key == "nodes[1].ssh.prot" && i.line == 17) saw_prot = true;
    if (i.key == "endpoint.kind") saw_kind = true;
  }
  CHECK(saw_prot);
  CHECK(saw_kind);
  auto v2 = inventory_issues("nodes: []\nendpoint: {host: x}\n");
  REQUIRE_FALSE(v2.empty());
  CHECK(v2[0].key == "nodes");
}

TEST_CASE("fault plans: power through the lab or a command template", "[unit]") {
  auto inv = parse_inventory(kInventory, "inv.yaml");
  FaultSpec f;
  f.kind = "power_off";
  auto a = faults::plan_fault(f, inv, inv.nodes[0]);
  CHECK(a.where == "local");
  CHECK(a.inject_command == "'/opt/lab/haverify-lab' power-off 'node1'");
  CHECK(a.heal_command.find("power-on 'node1'") != std::string::npos);
  auto b = faults::plan_fault(f, inv, inv.nodes[1]);
  CHECK(b.inject_command == "ipmitool -H '198.18.9.12' power off");
  CHECK(b.verify_command.find("( ipmitool -H '198.18.9.12' power status ) 2>&1") != std::string::npos);
  CHECK(b.heal_command.find("case $? in 0) ipmitool -H '198.18.9.12' power on ;; 1) : ;; *) exit 2 ;; esac") !=
        std::string::npos);
}

TEST_CASE("fault plans: LAN cuts by link or nft, and process kills", "[unit]") {
  auto inv = parse_inventory(kInventory, "inv.yaml");
  FaultSpec cut;
  cut.kind = "lan_cut";
  cut.lan = "service";
  auto a = faults::plan_fault(cut, inv, inv.nodes[0]);
  CHECK(a.where == "ssh");
  CHECK(a.inject_command == "ip link set dev 'svc0' down");
  CHECK(a.heal_command == "ip link set dev 'svc0' up");
  cut.method = "nft";
  cut.direction = "in";
  auto n = faults::plan_fault(cut, inv, inv.nodes[0]);
  CHECK(n.inject_command.find("iifname \"svc0\" drop") != std::string::npos);  // nft wants double quotes
  CHECK(n.inject_command.find("oifname") == std::string::npos);
  CHECK(n.heal_command.find("nft delete table inet haverify_cut_svc0") != std::string::npos);
  // One port: TCP to it in, from it out, in a table of its own.
  cut.direction = "both";
  cut.port = 5432;
  auto p = faults::plan_fault(cut, inv, inv.nodes[0]);
  CHECK(p.inject_command.find("add rule inet haverify_cut_svc0_5432 input iifname \"svc0\" tcp dport 5432 drop") !=
        std::string::npos);
  CHECK(p.inject_command.find("add rule inet haverify_cut_svc0_5432 output oifname \"svc0\" tcp sport 5432 drop") !=
        std::string::npos);
  CHECK(p.heal_command.find("nft delete table inet haverify_cut_svc0_5432") != std::string::npos);
  CHECK(p.description == "lan_cut service:5432 (svc0, nft) on node1");
  cut.port.reset();
  cut.direction = "in";
  // An in-node cut is void once the node is off: read from the node's power controller.
  CHECK(a.void_if_off.find("'/opt/lab/haverify-lab' power-status 'node1' >/dev/null; case $? in 3) return 0") !=
        std::string::npos);
  CHECK(faults::plan_fault(cut, inv, inv.nodes[1]).void_if_off.find("ipmitool -H '198.18.9.12' power status") !=
        std::string::npos);
  cut.lan = "replication";
  CHECK_THROWS_AS(faults::plan_fault(cut, inv, inv.nodes[1]), faults::FaultError);

  // A cut between two hosts: only packets from the peer's address on that LAN
  // in, and to it out; a table of its own, named after the peer.
  cut.lan = "service";
  cut.direction = "both";
  cut.peer = "primary";
  cut.peer_nodes = {"node2"};
  auto pe = faults::plan_fault(cut, inv, inv.nodes[0]);
  CHECK(pe.inject_command.find(
            "add rule inet haverify_cut_svc0_node2 input iifname \"svc0\" ip saddr { 198.18.1.12 } drop") !=
        std::string::npos);
  CHECK(pe.inject_command.find(
            "add rule inet haverify_cut_svc0_node2 output oifname \"svc0\" ip daddr { 198.18.1.12 } drop") !=
        std::string::npos);
  CHECK(pe.heal_command.find("nft delete table inet haverify_cut_svc0_node2") != std::string::npos);
  CHECK(pe.description == "lan_cut service (svc0, nft) on node1 with node2");
  cut.port = 5432;  // both: that peer's traffic to and from the port
  CHECK(faults::plan_fault(cut, inv, inv.nodes[0])
            .inject_command.find("input iifname \"svc0\" ip saddr { 198.18.1.12 } tcp dport 5432 drop") !=
        std::string::npos);
  cut.port.reset();
  // The peer is the cut node itself, resolved to nothing, or off the LAN: refused.
  cut.peer_nodes = {"node1"};
  CHECK_THROWS_WITH(faults::plan_fault(cut, inv, inv.nodes[0]), Catch::Contains("the peer is the cut node itself"));
  cut.peer_nodes = {};
  CHECK_THROWS_WITH(faults::plan_fault(cut, inv, inv.nodes[0]), Catch::Contains("resolved to no node"));
  cut.peer_nodes = {"node1"};
  cut.lan = "management";
  cut.port = 5432;
  CHECK_THROWS_WITH(faults::plan_fault(cut, inv, inv.nodes[1]), Catch::Contains("has no interface on LAN"));
  cut.port.reset();
  cut.peer.clear();
  cut.peer_nodes.clear();

  FaultSpec kill;
  kill.kind = "process_kill";
  kill.process = "postmaster";
  kill.signal = "KILL";
  auto k = faults::plan_fault(kill, inv, inv.nodes[0]);
  CHECK(k.inject_command.find("/var/lib/postgresql/15/main/postmaster.pid") != std::string::npos);
  CHECK(k.inject_command.find("kill -KILL $pids") != std::string::npos);
  CHECK(k.heal_command.empty());
  CHECK(k.void_if_off.empty());  // a kill is not undone by a power cycle either way
  kill.signal = "STOP";
  CHECK(faults::plan_fault(kill, inv, inv.nodes[0]).heal_command.find("kill -CONT") != std::string::npos);
}

TEST_CASE("the fault ledger persists entries until they are removed", "[unit]") {
  const auto path =
      std::filesystem::temp_directory_path() / ("haverify-ledger-" + std::to_string(::getpid())) / "l.json";
  std::filesystem::remove_all(path.parent_path());
  {
    faults::FaultLedger l(path.string());
    CHECK(l.entries().empty());
    faults::LedgerEntry e;
    e.id = "run/f1/1";
    e.kind = "lan_cut";
    e.node = "node1";
    e.where = "ssh";
    e.ssh.host = "198.18.0.11";
    e.ssh.key_file = "/k";
    e.heal_command = "ip link set dev 'svc0' up";
    e.void_if_off = "lab power-status node1; [ $? -eq 3 ]";
    l.add(e);
    e.id = "run/f2/2";
    l.add(e);
  }
  faults::FaultLedger again(path.string());  // as after a crash
  auto entries = again.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].ssh.host == "198.18.0.11");
  CHECK(entries[0].heal_command == "ip link set dev 'svc0' up");
  CHECK(entries[0].void_if_off == "lab power-status node1; [ $? -eq 3 ]");
  again.remove("run/f1/1");
  again.remove("run/f2/2");
  CHECK(again.entries().empty());
  CHECK_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("a local heal runs its command, a failing one says what failed", "[unit]") {
  faults::LedgerEntry ok;
  ok.description = "noop";
  ok.node = "n";
  ok.heal_command = "true";
  CHECK(faults::heal_entry(ok, std::chrono::milliseconds(5000)).empty());
  faults::LedgerEntry bad = ok;
  bad.heal_command = "echo boom >&2; exit 4";
  auto err = faults::heal_entry(bad, std::chrono::milliseconds(5000));
  CHECK(err.find("exit 4") != std::string::npos);
  CHECK(err.find("boom") != std::string::npos);
  // An in-node fault whose node is powered off has nothing left to heal
  // (the heal cannot reach it; its power status says off).
  faults::LedgerEntry gone = bad;
  gone.void_if_off = "true";
  CHECK(faults::heal_entry(gone, std::chrono::milliseconds(5000)).empty());
  gone.void_if_off = "exit 1";  // the node is on: the failed heal stays a failure
  CHECK(faults::heal_entry(gone, std::chrono::milliseconds(5000)).find("exit 4") != std::string::npos);
}

TEST_CASE("shell quoting and templates", "[unit]") {
  CHECK(sh_quote("a b") == "'a b'");
  CHECK(sh_quote("it's") == "'it'\\''s'");
  std::string missing;
  CHECK(expand_template("virsh destroy {domain} on {host}", {{"domain", "db1"}}, &missing) ==
        "virsh destroy 'db1' on {host}");
  CHECK(missing == "host");
  // A value is one word, whatever it holds: it cannot add a command.
  CHECK(expand_template("ipmitool -H {bmc} power off", {{"bmc", "x; rm -rf / #"}}) ==
        "ipmitool -H 'x; rm -rf / #' power off");
  CHECK(expand_template("echo {v}", {{"v", "$(id)`id`'\"\n"}}) == "echo '$(id)`id`'\\''\"\n'");
}

TEST_CASE("process_pause stops the postmaster and its children, sleeps on the node, continues", "[unit]") {
  auto inv = parse_inventory(kInventory, "inv.yaml");
  auto sc = parse_scenario(R"(steps:
  - inject: {fault: process_pause, process: postmaster, pause: 250ms, target: primary}
)",
                           "p.yaml");
  const auto& f = sc.steps[0].faults.at(0);
  REQUIRE(f.pause);
  CHECK(f.pause->count() == 250);
  auto a = faults::plan_fault(f, inv, inv.nodes[0], "f1-1");
  CHECK(a.inject_command.find("pgrep -P $pids") != std::string::npos);
  CHECK(a.inject_command.find("kill -STOP $pids && sleep 0.250; kill -CONT $pids") != std::string::npos);
  CHECK(a.inject_command.find("trap 'kill -CONT $pids 2>/dev/null' EXIT HUP INT TERM") != std::string::npos);
  CHECK(a.heal_command.find("kill -CONT") != std::string::npos);
  CHECK(a.description == "process_pause postmaster for 250ms on node1");
  try {
    parse_scenario("steps:\n  - inject: {fault: process_pause, process: postmaster, target: primary}\n", "q.yaml");
    FAIL("a pause without its length must not parse");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("q.yaml:2:13: key 'steps[0].inject.pause': required key is missing") !=
          std::string::npos);
  }
}

TEST_CASE("ssh connect_timeout_ms is milliseconds", "[unit]") {
  std::string text = kInventory;
  text.replace(text.find("ssh: {user: root,"), 18, "ssh: {connect_timeout_ms: 1500, user: root,");
  auto inv = parse_inventory(text, "inv.yaml");
  CHECK(inv.nodes[0].ssh.connect_timeout == std::chrono::milliseconds(1500));
  CHECK(inv.nodes[1].ssh.connect_timeout == std::chrono::milliseconds(1500));
}

// crm_simulate -Ls as Pacemaker 2.1.5 prints it: a standby that lost its
// ping attribute (controller respawn) has promotion score -INFINITY.
TEST_CASE("pacemaker scores: a standby or passive node with -INFINITY cannot take over", "[unit]") {
  const std::string promotable =
      "pcmk__clone_allocate: pgsql-clone allocation score on node1: INFINITY\n"
      "pcmk__clone_allocate: pgsql-clone allocation score on node2: 0\n"
      "pcmk__primitive_assign: pgsql:1 allocation score on node1: -INFINITY\n"
      "pcmk__primitive_assign: pgsql:1 allocation score on node2: INFINITY\n"
      "pgsql:0 promotion score on node1: INFINITY\n"
      "pgsql:1 promotion score on node2: -INFINITY\n"
      "pgsqlx:0 promotion score on node3: -INFINITY\n"
      "ping-svc:1 promotion score on node3: -INFINITY\n";
  auto b = pacemaker_takeover_blockers(promotable, "pgsql", true, {"node2", "node3"});
  REQUIRE(b.size() == 1);  // other resources' instances are not ours
  CHECK(b.at("node2").find("promotion score for pgsql on node2 is -INFINITY") != std::string::npos);
  // Only candidates (standbys) are reported: the allocation -INFINITY of
  // pgsql:1 on node1 is not a promotion score.
  CHECK(pacemaker_takeover_blockers(promotable, "pgsql", true, {"node1"}).empty());
  CHECK(pacemaker_takeover_blockers("pgsql:1 promotion score on node2: 100\n", "pgsql", true, {"node2"}).empty());

  const std::string group =
      "pcmk__group_assign: pg-group allocation score on node1: 0\n"
      "pcmk__group_assign: pg-group allocation score on node2: -INFINITY\n"
      "pcmk__primitive_assign: pg-fs allocation score on node2: -INFINITY\n"
      "pcmk__primitive_assign: pg-group2 allocation score on node3: -INFINITY\n";
  b = pacemaker_takeover_blockers(group, "pg-group", false, {"node2", "node3"});
  REQUIRE(b.size() == 1);
  CHECK(b.at("node2").find("allocation score for pg-group on node2 is -INFINITY") != std::string::npos);
  CHECK(pacemaker_takeover_blockers(group, "pg-group", true, {"node2"}).empty());  // no promotion lines
  CHECK(pacemaker_takeover_blockers("", "pg-group", false, {"node2"}).empty());
}

namespace {

// A node whose command controller answers `answer` to status and whose on
// command leaves a mark.
NodeSpec command_node(const std::string& answer, const std::string& mark) {
  NodeSpec n;
  n.name = "n1";
  n.power.controller = "command";
  n.power.off = "true";
  n.power.on = "touch " + sh_quote(mark);
  n.power.status = "printf '%s\\n' " + sh_quote(answer);
  return n;
}

}  // namespace

TEST_CASE("power status is read strictly: on, off, or an error that quotes the answer", "[unit]") {
  Inventory inv;
  const std::string mark = fmt::format("/tmp/haverify-unit-power-{}", ::getpid());
  LocalTransport local;
  const auto status = [&](const std::string& answer) {
    return local.exec(faults::power_commands(inv, command_node(answer, mark)).status_is_off, 10000ms);
  };
  for (const char* off : {"Chassis Power is off", "Status: OFF", "off", "power: off  \r", "x\nChassis Power is off\n"})
    CHECK(status(off).exit_code == 0);
  for (const char* on : {"Chassis Power is on", "Status: ON", "on"}) CHECK(status(on).exit_code == 1);
  for (const char* neither : {"", "offline", "Error: Unable to establish IPMI v2 / RMCP+ session", "power is unknown",
                              "Chassis Power is off (or is it) maybe"}) {
    const auto r = status(neither);
    INFO(neither << " -> " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("power status of n1: the answer does not end in on or off") != std::string::npos);
  }
  // Power on: only what reads off; an unreadable status is an error, never a blind power-on.
  std::filesystem::remove(mark);
  CHECK(local.exec(faults::power_commands(inv, command_node("Status: ON", mark)).on, 10000ms).exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(mark));
  CHECK(local.exec(faults::power_commands(inv, command_node("timeout", mark)).on, 10000ms).exit_code == 2);
  CHECK_FALSE(std::filesystem::exists(mark));
  CHECK(local.exec(faults::power_commands(inv, command_node("Status: OFF", mark)).on, 10000ms).exit_code == 0);
  CHECK(std::filesystem::exists(mark));
  std::filesystem::remove(mark);
  // verify: none: no status, so nothing to verify with.
  NodeSpec none = command_node("", mark);
  none.power.status.clear();
  const auto p = faults::power_commands(inv, none);
  CHECK(p.status_is_off.empty());
  CHECK(p.verify_off.empty());
}

TEST_CASE("power controller ipmi: haverify's own ipmitool commands, the password never on the command line", "[unit]") {
  const std::string yaml = std::string(kInventory);
  const auto with_power = [&](const std::string& power) {
    std::string y = yaml;
    const std::string from = "    power:\n      controller: command\n";
    const auto at = y.find(from);
    REQUIRE(at != std::string::npos);
    const auto end = y.find("endpoint:", at);
    return y.replace(at, end - at, "    power: " + power + "\n");
  };
  const Inventory inv = parse_inventory(
      with_power("{controller: ipmi, bmc: 198.18.0.22, user: hvadmin, password_file: /etc/ipmi.pw}"), "inv.yaml");
  const auto p = faults::power_commands(inv, inv.nodes[1]);
  CHECK(p.where == "local");
  CHECK(p.off ==
        "ipmitool -I lanplus -C 3 -H '198.18.0.22' -p 623 -U 'hvadmin' -f '/etc/ipmi.pw' -N 2 -R 2 chassis power off "
        "</dev/null >/dev/null");
  CHECK(p.status_is_off.find("'0:Chassis Power is off') return 0 ;; '0:Chassis Power is on') return 1") !=
        std::string::npos);
  CHECK(p.verify_off.find("still on 10 s after the power-off") != std::string::npos);

  const Inventory env = parse_inventory(
      with_power("{controller: ipmi, bmc: bmc2.example, port: 6230, user: hvadmin, password_env: HVT_IPMI_PW, "
                 "cipher_suite: 17, interface: lan}"),
      "inv.yaml");
  ::unsetenv("HVT_IPMI_PW");
  CHECK_THROWS_WITH(faults::power_commands(env, env.nodes[1]),
                    Catch::Contains("power.password_env names HVT_IPMI_PW, which is not set"));
  ::setenv("HVT_IPMI_PW", "s3cret", 1);
  const auto q = faults::power_commands(env, env.nodes[1]);
  CHECK(q.off ==
        "IPMI_PASSWORD=\"${HVT_IPMI_PW}\" ipmitool -I lan -C 17 -H 'bmc2.example' -p 6230 -U 'hvadmin' -E -N 2 "
        "-R 2 chassis power off </dev/null >/dev/null");
  CHECK(q.off.find("s3cret") == std::string::npos);
  ::unsetenv("HVT_IPMI_PW");

  const auto issues = [&](const std::string& power) {
    std::string all;
    for (const auto& i : inventory_issues(with_power(power))) all += i.str() + "\n";
    return all;
  };
  CHECK_THAT(issues("{controller: ipmi, bmc: 198.18.0.22, user: u}"),
             Catch::Contains("give exactly one of password_file") && Catch::Contains("nodes[1].power"));
  CHECK_THAT(issues("{controller: ipmi, bmc: 198.18.0.22, user: u, password_file: /f, password_env: X}"),
             Catch::Contains("give exactly one of password_file"));
  CHECK_THAT(issues("{controller: ipmi, bmc: 198.18.0.22, user: u, password_file: /f, cipher_suite: 0}"),
             Catch::Contains("nodes[1].power.cipher_suite"));
  CHECK_THAT(issues("{controller: ipmi, bmc: 198.18.0.22, user: u, password_file: /f, off: 'x'}"),
             Catch::Contains("nodes[1].power.off") && Catch::Contains("not for controller ipmi"));
  CHECK_THAT(issues("{controller: ipmi, user: u, password_file: /f}"), Catch::Contains("nodes[1].power.bmc"));
  CHECK_THAT(issues("{controller: command, off: 'x', on: 'y'}"),
             Catch::Contains("nodes[1].power.status") && Catch::Contains("verify: none"));
  CHECK_THAT(issues("{controller: command, off: 'x', on: 'y', status: 'z', verify: none}"),
             Catch::Contains("nodes[1].power.verify"));
  CHECK(issues("{controller: command, off: 'x', on: 'y', verify: none}").empty());
}

TEST_CASE("managed processes: the Pacemaker 2.x selectors also match the 1.1 daemons (crmd, lrmd, cib)", "[unit]") {
  CHECK(faults::managed_process_regex("pacemaker-controld") == "^([^ ]*/)?(pacemaker-controld|crmd)( |$)");
  // The Pacemaker 1.1 names of the same daemons (RHEL 7): the regex, run as pgrep -f runs it.
  const auto matches = [](const std::string& selector, const std::string& cmdline) {
    return std::regex_search(cmdline, std::regex(faults::managed_process_regex(selector), std::regex::extended));
  };
  CHECK(matches("pacemaker-controld", "/usr/libexec/pacemaker/crmd"));
  CHECK(matches("pacemaker-controld", "/usr/lib/pacemaker/pacemaker-controld"));
  CHECK(matches("pacemaker-execd", "/usr/libexec/pacemaker/lrmd"));
  CHECK(matches("pacemaker-based", "/usr/libexec/pacemaker/cib"));
  CHECK_FALSE(matches("pacemaker-based", "/usr/bin/cibadmin --query"));
  CHECK_FALSE(matches("pacemaker-controld", "/usr/sbin/crm_mon -1"));
  CHECK(matches("corosync", "corosync -f"));
}
