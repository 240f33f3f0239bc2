// Hostile input (issue 14): every class of bad file or value a careless or
// malicious user tried is a usage error (exit 2) that names the file, the
// place and the problem; BOM and CRLF are accepted.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/files.hpp"
#include "haverify/io/csv_read.hpp"
#include "haverify/run/suite.hpp"

using namespace haverify;
namespace fs = std::filesystem;

namespace {

// The message of the usage error `f` throws; fails the test if it throws
// anything else or nothing.
template <class F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    INFO(e.what());
    CHECK(exit_status_of(e) == ExitStatus::usage);
    return e.what();
  }
  FAIL("accepted");
  return {};
}

std::string scenario_error(const std::string& yaml) {
  return usage_error_of([&] { parse_scenario(yaml, "s.yaml"); });
}

const std::string kSteps = "steps: [{wait: 1s}]\n";

// A valid inventory with `lans` and `node_extra` spliced in.
std::string inventory(const std::string& lan_name = "service", const std::string& node_extra = "",
                      const std::string& tail = "") {
  return "lans:\n  \"" + lan_name +
         "\": {subnet: 198.18.1.0/24}\n"
         "ssh: {user: root, key: /k, known_hosts: /kh}\n"
         "nodes:\n"
         "  - name: node1\n"
         "    ssh: {host: 198.18.1.11}\n"
         "    interfaces:\n"
         "      \"" +
         lan_name +
         "\": {ifname: svc0, address: 198.18.1.11/24}\n"
         "    postgres: {" +
         node_extra +
         "}\n"
         "    power: {controller: command, off: 'true', on: 'true', verify: none}\n"
         "endpoint: {kind: vip, host: 198.18.1.10}\n" +
         tail;
}

// `text` with its first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  REQUIRE(text.find(from) != std::string::npos);
  return text.replace(text.find(from), from.size(), to);
}

std::string inventory_error(const std::string& yaml) {
  return usage_error_of([&] { parse_inventory(yaml, "inv.yaml"); });
}

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("haverify-unit-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("hostile keys: a null, list or mapping key is an error at its place, never a crash", "[unit]") {
  // The fuzzer's 4-line crash (../shared/fuzz-repro/uaf-scenario-checks-nullkey.yaml).
  auto e = scenario_error("steps: [{wait: 1s}]\nchecks:\n  failover_s: {max: 8}\n  : {max: 10}\n");
  CHECK_THAT(e, Catch::Contains("s.yaml:4:3: key 'checks': a key must be a plain name, this key is empty (null)"));
  e = scenario_error(kSteps + "? [a, b]\n: 1\n");
  CHECK_THAT(e, Catch::Contains("s.yaml:2:3: key '(top level)': a key must be a plain name, this key is a list"));
  e = scenario_error(kSteps + "? {a: 1}\n: 1\n");
  CHECK_THAT(e, Catch::Contains("this key is a mapping"));
  // The inventory's maps: lans, interfaces, driver.restart, power.vars.
  e = inventory_error("lans:\n  : {subnet: 198.18.1.0/24}\n" + inventory().substr(inventory().find("ssh:")));
  CHECK_THAT(e, Catch::Contains("inv.yaml:2:3: key 'lans': a key must be a plain name"));
  e = inventory_error(inventory("service", "", "driver:\n  type: pgpool\n  restart:\n    ? [x]\n    : y\n"));
  CHECK_THAT(e, Catch::Contains("key 'driver.restart': a key must be a plain name, this key is a list"));
}

TEST_CASE("hostile keys: a duplicate key is an error at every level", "[unit]") {
  auto e = scenario_error(kSteps + "checks:\n  failover_s: {max: 8}\n  failover_s: {max: 80}\n");
  CHECK_THAT(e, Catch::Contains("s.yaml:4:3: key 'checks.failover_s': duplicate key (first at line 3)"));
  e = scenario_error("repeat: 2\n" + kSteps + "repeat: 1\n");
  CHECK_THAT(e, Catch::Contains("s.yaml:3:1: key 'repeat': duplicate key (first at line 1)"));
  e = scenario_error("steps:\n  - inject: {fault: power_off, target: primary, target: standby}\n");
  CHECK_THAT(e, Catch::Contains("key 'steps[0].inject.target': duplicate key"));
}

TEST_CASE("hostile values: integers out of their type's range are refused, never narrowed", "[unit]") {
  auto e = scenario_error("repeat: 4294967297\n" + kSteps);
  CHECK_THAT(e,
             Catch::Contains("s.yaml:1:9: key 'repeat': out of range, '4294967297': expected a whole number from 1"));
  e = scenario_error("workload:\n  ledger: {clients: 4294967297}\n" + kSteps);
  CHECK_THAT(e, Catch::Contains("key 'workload.ledger.clients': out of range"));
  e = scenario_error("repeat: 99999999999999999999999\n" + kSteps);
  CHECK_THAT(e, Catch::Contains("out of range"));
  e = scenario_error("repeat: 1.5\n" + kSteps);
  CHECK_THAT(e, Catch::Contains("not a whole number"));
  e = scenario_error("repeat: 0x10\n" + kSteps);
  CHECK_THAT(e, Catch::Contains("not a whole number"));
}

TEST_CASE("hostile values: durations are finite, bounded and positive where they must be", "[unit]") {
  auto e = scenario_error("steps: [{wait: 1e300s}]\n");
  CHECK_THAT(e, Catch::Contains("s.yaml:1:16: key 'steps[0].wait': expected a duration from 0ms to 30d"));
  CHECK_THAT(scenario_error("steps: [{wait: nan}]\n"), Catch::Contains("expected a duration"));
  CHECK_THAT(scenario_error("steps: [{wait: inf}]\n"), Catch::Contains("expected a duration"));
  CHECK_THAT(scenario_error("steps: [{wait: -1s}]\n"), Catch::Contains("expected a duration"));
  e = scenario_error("steps: [{recover: {timeout: 0s}}]\n");
  CHECK_THAT(e, Catch::Contains("key 'steps[0].recover.timeout': expected a duration from 1ms to 30d"));
  e = scenario_error("setup_timeout: 31d\n" + kSteps);
  CHECK_THAT(e, Catch::Contains("key 'setup_timeout'"));
  CHECK(parse_duration("30d") == std::chrono::hours(720));
  CHECK_FALSE(parse_duration(" 5s"));
  CHECK_FALSE(parse_duration("0x10s"));
}

TEST_CASE("hostile values: NaN and infinities are refused in YAML bounds and plan.csv bounds", "[unit]") {
  for (const char* v : {"nan", ".nan", "inf", ".inf", "-.inf", "1e999"})
    CHECK_THAT(scenario_error(kSteps + "checks:\n  failover_s: {max: " + std::string(v) + "}\n"),
               Catch::Contains("key 'checks.failover_s.max': expected a finite number"));
  for (const char* v : {"nan", "inf", "-inf", "1e999", "0x1p3"}) {
    INFO(v);
    CHECK_THROWS_WITH(parse_bounds(std::string("failover_s<=") + v), Catch::Contains("is not a finite number"));
  }
  CHECK(parse_bounds("failover_s<=8.5").at("failover_s").max == 8.5);
}

TEST_CASE("hostile values: ports are 1-65535 everywhere in an inventory", "[unit]") {
  CHECK_THAT(inventory_error(inventory("service", "port: 99999")),
             Catch::Contains("key 'nodes[0].postgres.port': out of range, '99999': expected a whole number from 1 to "
                             "65535"));
  CHECK_THAT(inventory_error(inventory("service", "port: 4294967318")), Catch::Contains("out of range"));
  CHECK_THAT(inventory_error(inventory("service", "port: 0")), Catch::Contains("from 1 to 65535"));
  CHECK_THAT(inventory_error(replaced(inventory(), "ssh: {user: root", "ssh: {port: 4294967318, user: root")),
             Catch::Contains("key 'ssh.port': out of range"));
  CHECK_THAT(inventory_error(replaced(inventory(), "host: 198.18.1.10}", "host: 198.18.1.10, port: '5432,99999'}")),
             Catch::Contains("key 'endpoint.port': '5432,99999' is not a TCP port"));
  CHECK_NOTHROW(parse_inventory(inventory("service", "port: 65535"), "inv.yaml"));
}

TEST_CASE("hostile names: LAN, node, interface and id names come from one character set", "[unit]") {
  for (const char* lan : {"svc\\nmethod: nft", "svc, method: nft", "../../etc", "サービス", "-flag"}) {
    INFO(lan);
    CHECK_THAT(inventory_error(inventory(lan)), Catch::Contains("not a valid LAN name (1 to 63 characters of A-Z"));
  }
  CHECK_THAT(inventory_error(replaced(inventory(), "name: node1", "name: \"node 1\"")),
             Catch::Contains("key 'nodes[0].name': 'node 1' is not a valid node name"));
  CHECK_THAT(inventory_error(replaced(inventory(), "ifname: svc0", "ifname: a-very-long-ifname0")),
             Catch::Contains("is not an interface name (Linux: at most 15 characters"));
  CHECK_THAT(scenario_error("steps:\n  - inject: {id: \"a/b\", fault: power_off, target: primary}\n"),
             Catch::Contains("key 'steps[0].inject.id': 'a/b' is not a valid name"));
  CHECK_THAT(scenario_error("steps:\n  - maintenance: {op: vacuum, table: \"t; DROP TABLE x\"}\n"),
             Catch::Contains("key 'steps[0].maintenance.table': 't; DROP TABLE x' is not a table name"));
  CHECK(valid_sql_table("public.haverify_bulk"));
  CHECK_FALSE(valid_sql_table("a.b.c"));
  // The plan writes no file outside its folder: an id is a name.
  PlanItem item;
  item.id = "../escape";
  item.kind = "single-fault";
  const auto dir = temp_dir("hostile-plan");
  const Inventory lab = parse_inventory(inventory(), "inv.yaml");
  CHECK_THROWS_WITH(write_plan(dir.string(), {item}, lab, false), Catch::Contains("'../escape': not a valid id"));
  CHECK_FALSE(fs::exists(dir.parent_path() / "escape.yaml"));
}

TEST_CASE("hostile files: FIFO, device, directory, too large, absent: a usage error naming the path", "[unit]") {
  const auto dir = temp_dir("hostile-files");
  const auto fifo = dir / "fifo.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Refused before it is opened: an open() would block until a writer comes.
  CHECK_THAT(usage_error_of([&] { load_scenario(fifo.string()); }),
             Catch::Contains(fifo.string() + ": is a FIFO (named pipe); give a regular file"));
  CHECK_THAT(usage_error_of([&] { load_scenario("/dev/zero"); }),
             Catch::Contains("/dev/zero: is a character device; give a regular file"));
  CHECK_THAT(usage_error_of([&] { load_inventory(dir.string()); }), Catch::Contains("is a directory"));
  CHECK_THAT(usage_error_of([&] { load_scenario((dir / "absent.yaml").string()); }),
             Catch::Contains("absent.yaml: no such file"));
  const auto big = dir / "big.csv";
  write(big, std::string(1000, 'x'));
  CHECK_THAT(usage_error_of([&] { read_input_file(big.string(), 512); }), Catch::Contains("larger than"));
  CHECK_THAT(usage_error_of([&] { reports::read_csv_table(fifo.string()); }), Catch::Contains("is a FIFO"));
}

TEST_CASE("hostile files: an unreadable folder under a scenario folder is a usage error naming it", "[unit]") {
  const auto dir = temp_dir("hostile-unreadable");
  fs::create_directories(dir / "locked");
  write(dir / "ok.yaml", kSteps);
  ::chmod((dir / "locked").c_str(), 0);
  // root reads everything: the check runs in a child that drops to nobody.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::geteuid() == 0 &&
        (::chmod(dir.parent_path().c_str(), 0755) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(3);
    try {
      expand_scenario_paths({dir.string()}, true);
    } catch (const UsageError& e) {
      const std::string m = e.what();
      ::_exit(m.find((dir / "locked").string() + ": cannot list the folder") != std::string::npos ? 0 : 1);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(2);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::chmod((dir / "locked").c_str(), 0755);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 1: wrong message, 2: accepted, 3: could not drop root, 4: other exception
}

TEST_CASE("hostile sheets: semicolon separators get a hint, BOM and CRLF are accepted", "[unit]") {
  const auto dir = temp_dir("hostile-sheets");
  write(dir / "semi.csv", "id;kind;fault\r\npower-off-primary;single-fault;power_off\r\n");
  auto e = usage_error_of([&] { read_plan_csv((dir / "semi.csv").string()); });
  CHECK_THAT(e, Catch::Contains("semi.csv:1: the header is separated by ';', not ','"));
  CHECK_THAT(e, Catch::Contains("CSV UTF-8 (comma delimited)"));
  write(dir / "bom.csv", "\xEF\xBB\xBFid,kind\r\na,b\r\n");
  const auto t = reports::read_csv_table((dir / "bom.csv").string());
  CHECK(t.header == std::vector<std::string>{"id", "kind"});
  REQUIRE(t.rows.size() == 1);
  CHECK(t.rows[0] == std::vector<std::string>{"a", "b"});
  write(dir / "nul.csv", std::string("id,kind\na,b\n\0,c\n", 14));
  CHECK_THAT(usage_error_of([&] { reports::read_csv_table((dir / "nul.csv").string()); }),
             Catch::Contains("nul.csv:3: a NUL byte"));
  write(dir / "bom.yaml", "\xEF\xBB\xBFname: bom\r\nsteps:\r\n  - wait: 1s\r\n");
  const Scenario sc = load_scenario((dir / "bom.yaml").string());
  CHECK(sc.name == "bom");
  CHECK(sc.steps.size() == 1);
}
