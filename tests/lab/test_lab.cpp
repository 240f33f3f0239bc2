// Real-lab integration tests (label `lab`). CTest brings the lab up once
// (fixture `lab-up`) and always tears it down (`lab-down`), even when a test
// fails; each test case below runs in its own process against that lab.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "faults/ledger.hpp"
#include "haverify/driver.hpp"
#include "haverify/inventory.hpp"
#include "haverify/shell.hpp"
#include "haverify/transport.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process;
using namespace haverify;
using namespace std::chrono_literals;

namespace {

const std::string kBin = HAVERIFY_BIN;
const std::string kSrc = HAVERIFY_SOURCE_DIR;

std::string state_dir() {
  const char* s = std::getenv("HAVERIFY_LAB_STATE");
  return s && *s ? s : "/var/lib/haverify-lab";
}
std::string inventory_path() {
  return state_dir() + "/inventory.yaml";
}

ExecResult sh(const std::string& cmd, std::chrono::milliseconds deadline = 600s) {
  LocalTransport t;
  return t.exec(cmd, deadline);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / fmt::format("haverify-labtest-{}-{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string lab(const std::string& args) {
  return fmt::format("{} lab {}", sh_quote(kBin), args);
}

// The state of an interface inside a lab node: true if administratively up.
bool link_up(const std::string& node, const std::string& ifname) {
  auto r = sh(lab(fmt::format("exec {} -- ip -o link show dev {}", node, ifname)), 20s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return std::regex_search(r.out, std::regex("[<,]UP[,>]"));
}

// Picks the current standby (a node answering pg_is_in_recovery() = true).
std::string some_standby(const Inventory& inv) {
  for (const auto& s : probe_all(inv, 2000ms))
    if (s.role == Role::standby) return s.node;
  FAIL("no standby in the lab");
  return {};
}

// A scenario that cuts one standby's service LAN for a long time.
fs::path write_long_cut_scenario(const fs::path& dir, const std::string& node) {
  fs::path p = dir / "long-cut.yaml";
  std::ofstream(p) << fmt::format(R"(name: long-cut
kind: single-fault
steps:
  - start: ledger
  - inject: {{id: cut, fault: lan_cut, lan: service, method: link, target: {}}}
  - wait: 5m
  - heal: cut
)",
                                  node);
  return p;
}

// Starts haverify in the background and waits until the cut is in place.
bp::child start_cut_run(const fs::path& dir, const fs::path& scenario, const std::string& node) {
  bp::child c(kBin, "run", scenario.string(), "--inventory", inventory_path(), "--out", (dir / "out").string(),
              bp::std_out > (dir / "stdout.txt").string(), bp::std_err > (dir / "stderr.txt").string(),
              bp::env["HAVERIFY_LEDGER"] = (dir / "ledger.json").string());
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < until && c.running()) {
    if (fs::exists(dir / "ledger.json") && !link_up(node, "svc0")) return c;
    std::this_thread::sleep_for(200ms);
  }
  INFO(slurp(dir / "stdout.txt") << slurp(dir / "stderr.txt"));
  FAIL("the LAN cut never took effect");
  return c;
}

}  // namespace

TEST_CASE("the single-fault suite passes on the pgpool lab with no acknowledged write lost", "[lab]") {
  const fs::path out = fresh_dir("suite");
  auto r = sh(fmt::format("cd {} && HAVERIFY_LEDGER={} {} run scenarios/single-fault --inventory {} --out {} --seed 7",
                          sh_quote(kSrc), sh_quote((out / "ledger.json").string()), sh_quote(kBin),
                          sh_quote(inventory_path()), sh_quote((out / "suite").string())),
              900s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  const std::string csv = slurp(out / "suite" / "results.csv");
  INFO(csv);
  for (const char* sc : {"power-off-primary", "kill-postmaster-primary", "lan-cut-service-primary"}) {
    std::smatch m;
    // scenario,kind,stack,profile,fault,target,seed,repetition,4
    // times,failover_s,downtime_s,lost_acked,unknown,failed,acked,verdict
    std::regex row(fmt::format(
        R"({},single-fault,pgpool,[^,]*,[^,]*,[^,]*,7?\d*,1,([^,]*),([^,]*),([^,]*),([^,]*),([0-9.]+),([0-9.]+),(\d+),(\d+),(\d+),(\d+),(\w+),)",
        sc));
    REQUIRE(std::regex_search(csv, m, row));
    const double failover = std::stod(m[5]);
    const long lost = std::stol(m[7]);
    const long acked = std::stol(m[10]);
    CHECK(failover > 0.0);
    CHECK(failover < 15.0);
    CHECK(lost == 0);
    CHECK(acked >= 1000);
    CHECK(m[11] == "pass");
    CHECK_FALSE(m[1].str().empty());  // t_inject_sent
    CHECK_FALSE(m[4].str().empty());  // t_first_write
    WARN(fmt::format("{}: failover_s={} downtime_s={} acked={} lost={}", sc, m[5].str(), m[6].str(), acked, lost));
  }
  const std::string junit = slurp(out / "suite" / "junit.xml");
  CHECK(junit.find("tests=\"3\" failures=\"0\" errors=\"0\"") != std::string::npos);
  CHECK(junit.find("name=\"power-off-primary #1\"") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "ledger.json"));  // everything healed
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
