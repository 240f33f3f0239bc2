// Plans (plan single-fault / multi-fault, the plan.csv sheet), seeded order
// and shards, report merge, multi-fault inject steps.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "faults/fault.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/io/csv.hpp"
#include "haverify/io/csv_read.hpp"
#include "haverify/run/runner.hpp"

using namespace haverify;
namespace fs = std::filesystem;

namespace {

// The shape `haverify lab up --stack pgpool` writes (lab/haverify-lab write_inventory).
std::string lab_inventory(int nodes, const std::string& driver = "pgpool", const std::string& stack = "pgpool") {
  std::string y = "name: lab-" + stack + "\nstack: " + stack + R"(
lans:
  management:   {subnet: 198.18.0.0/24}
  service:      {subnet: 198.18.1.0/24}
  replication:  {subnet: 198.18.2.0/24}
  interconnect: {subnet: 198.18.3.0/24}
ssh: {user: root, key: /k, known_hosts: /kh}
lab: {script: /opt/lab/haverify-lab, state_dir: /var/lib/haverify-lab}
nodes:
)";
  for (int i = 1; i <= nodes; ++i) {
    const std::string n = std::to_string(i);
    y += "  - name: node" + n + "\n    ssh: {host: 198.18.0.1" + n + "}\n    interfaces:\n" +
         "      management: {ifname: mgmt0, address: 198.18.0.1" + n + "/24}\n" +
         "      service: {ifname: svc0, address: 198.18.1.1" + n + "/24}\n" +
         "      replication: {ifname: repl0, address: 198.18.2.1" + n + "/24}\n" +
         "      interconnect: {ifname: ic0, address: 198.18.3.1" + n + "/24}\n" +
         "    postgres: {}\n    power: {controller: lab}\n";
  }
  y += "endpoint: {kind: pgpool, host: 198.18.1.10, port: 9999}\n";
  if (driver == "pgpool")
    y += "driver: {type: pgpool, pcp_host: 198.18.0.10, pcp_user: pcpadmin, ssh_host: 198.18.0.10}\n";
  else
    y += "driver: {type: " + driver + "}\n";
  return y;
}

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("haverify-unit-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// The problems of a sheet that fails to read.
std::vector<std::string> plan_problems(const fs::path& p) {
  try {
    read_plan_csv(p.string());
  } catch (const PlanError& e) {
    return e.problems();
  }
  return {};
}

bool has_problem(const std::vector<std::string>& v, const std::string& what) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(what) != std::string::npos; });
}

const std::string kHeader =
    "id,kind,fault,target_role,lan,process,expected,bounds,scenario_file,verdict,failover_s,lost_acked,reason,run_dir,"
    "seed\r\n";

}  // namespace

TEST_CASE("plan: a 3-node pgpool lab gives 16 single faults and 110 multi-fault items", "[unit]") {
  const Inventory inv = parse_inventory(lab_inventory(3), "inv.yaml");
  REQUIRE(inv.node(kPoolNode) != nullptr);
  CHECK(stack_family(inv) == "pgpool");
  CHECK(stack_processes(inv) == std::vector<std::string>{"postmaster", "pgpool"});
  CHECK(role_targets(inv) == std::vector<std::string>{"primary", "standby:1", "standby:2"});
  const auto singles = single_fault_plan(inv, stack_processes(inv));
  // 3 roles x (power, postmaster, 3 LANs) + pgpool on the pool host.
  CHECK(singles.size() == 16);
  std::set<std::string> ids;
  for (const auto& s : singles) {
    ids.insert(s.id);
    for (const auto& f : s.faults) CHECK(f.spec.lan != "management");
  }
  CHECK(ids.size() == singles.size());
  CHECK(ids.count("power-off-primary"));
  CHECK(ids.count("kill-pgpool-pool"));
  CHECK(ids.count("cut-interconnect-standby2"));
  const auto by_id = [&](const std::vector<PlanItem>& v, const std::string& id) {
    return *std::find_if(v.begin(), v.end(), [&](const PlanItem& i) { return i.id == id; });
  };
  CHECK(by_id(singles, "power-off-primary").expected == "failover");
  CHECK(format_bounds(by_id(singles, "power-off-primary").bounds) == "failover_s<=30;lost_acked==0");
  CHECK(by_id(singles, "power-off-standby1").expected == "no-failover");
  // A split brain is the known risk, but the promise is a failover (issue 13): single_writer judges the rest.
  CHECK(by_id(singles, "cut-service-primary").expected == "failover");

  // Pairs: C(16,2) = 120, less 4 per role that pair a power-off with the same role's other faults;
  // plus svc-primary_x_repl-both, ic-all and power-all.
  const auto multi = multi_fault_plan(inv, stack_processes(inv));
  CHECK(multi.size() == 120 - 12 + 3);
  const auto named = by_id(multi, "svc-primary_x_repl-both");
  REQUIRE(named.faults.size() == 2);
  CHECK(named.faults[1].spec.targets == std::vector<std::string>{"primary", "standbys"});
  CHECK(by_id(multi, "power-off-primary_x_power-off-standby1").expected == "failover");
}

TEST_CASE("plan: two-node Pacemaker and Patroni stacks use their managed processes", "[unit]") {
  const Inventory pgrex = parse_inventory(lab_inventory(2, "generic", "pgrex"), "inv.yaml");
  CHECK(stack_family(pgrex) == "pacemaker");
  CHECK(role_targets(pgrex) == std::vector<std::string>{"primary", "standby"});
  // 2 roles x (power + 4 processes + 3 LANs).
  CHECK(single_fault_plan(pgrex, stack_processes(pgrex)).size() == 16);
  const Inventory patroni = parse_inventory(lab_inventory(3, "generic", "patroni"), "inv.yaml");
  CHECK(stack_processes(patroni) == std::vector<std::string>{"postmaster", "patroni", "etcd"});
  // Two power-offs take out both nodes of a two-node stack.
  const auto multi = multi_fault_plan(pgrex, {"postmaster"});
  auto it = std::find_if(multi.begin(), multi.end(),
                         [](const PlanItem& i) { return i.id == "power-off-primary_x_power-off-standby"; });
  REQUIRE(it != multi.end());
  CHECK(it->expected == "outage");
}

TEST_CASE("plan: a LAN the manager monitors makes its cut of the primary a failover", "[unit]") {
  const auto by_id = [](const std::vector<PlanItem>& v, const std::string& id) {
    auto it = std::find_if(v.begin(), v.end(), [&](const PlanItem& i) { return i.id == id; });
    REQUIRE(it != v.end());
    return *it;
  };
  std::string y = lab_inventory(2, "generic", "pgrex");
  const Inventory plain = parse_inventory(y, "inv.yaml");
  CHECK_FALSE(plain.lan("service")->monitored);
  const auto before = single_fault_plan(plain, {"postmaster"});
  CHECK(by_id(before, "cut-service-primary").expected == "outage");
  CHECK(format_bounds(by_id(before, "cut-service-primary").bounds) == "lost_acked==0");

  const std::string from = "service:      {subnet: 198.18.1.0/24}";
  y.replace(y.find(from), from.size(), "service:      {subnet: 198.18.1.0/24, monitored: true}");
  const Inventory pinged = parse_inventory(y, "inv.yaml");
  CHECK(pinged.lan("service")->monitored);
  const auto after = single_fault_plan(pinged, {"postmaster"});
  CHECK(by_id(after, "cut-service-primary").expected == "failover");
  CHECK(format_bounds(by_id(after, "cut-service-primary").bounds) == "failover_s<=30;lost_acked==0");
  // A standby's cut moves nothing; an unmonitored LAN is unchanged.
  CHECK(by_id(after, "cut-service-standby").expected == "no-failover");
  CHECK(by_id(after, "cut-replication-primary").expected == "no-failover");

  // Anything but a boolean is a configuration error with its place.
  y.replace(y.find("monitored: true"), 15, "monitored: maybe");
  CHECK_THROWS_WITH(parse_inventory(y, "inv.yaml"), Catch::Contains("lans.service") || Catch::Contains("monitored"));
}

TEST_CASE("plan: the pairing rule", "[unit]") {
  const Inventory inv = parse_inventory(lab_inventory(2), "inv.yaml");
  const auto singles = single_faults(inv, {"postmaster"});
  auto find = [&](const std::string& slug) {
    return *std::find_if(singles.begin(), singles.end(), [&](const PlannedFault& f) { return f.slug == slug; });
  };
  CHECK(combinable(find("power-off-primary"), find("power-off-standby")));            // different nodes
  CHECK_FALSE(combinable(find("power-off-primary"), find("cut-service-primary")));    // power covers the node
  CHECK(combinable(find("cut-service-primary"), find("cut-replication-primary")));    // two LANs of one node
  CHECK(combinable(find("kill-postmaster-primary"), find("cut-service-primary")));    // process and LAN
  CHECK_FALSE(combinable(find("cut-service-primary"), find("cut-service-primary")));  // the same fault
}

TEST_CASE("plan: generated scenarios validate, the sheet round-trips through edits", "[unit]") {
  const auto dir = temp_dir("plan-roundtrip");
  const Inventory inv = parse_inventory(lab_inventory(2), "inv.yaml");
  write_plan(dir.string(), single_fault_plan(inv, stack_processes(inv)), inv, false);
  CHECK_THROWS_WITH(write_plan(dir.string(), {}, inv, false), Catch::Contains("--force"));
  write_plan((dir / "multi").string(), multi_fault_plan(inv, stack_processes(inv)), inv, false);
  for (const auto& d : {dir, dir / "multi"})
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".yaml") CHECK_NOTHROW(load_scenario(e.path().string()));
  const Scenario multi = load_scenario((dir / "multi" / "svc-primary_x_repl-both.yaml").string());
  REQUIRE(multi.first_inject() != nullptr);
  CHECK(multi.first_inject()->faults.size() == 2);

  const fs::path sheet = dir / "plan.csv";
  std::vector<Scenario> scenarios;
  auto rows = read_plan_csv(sheet.string(), &scenarios);
  REQUIRE(rows.size() == 11);  // 2 roles x (power, postmaster, 3 LANs) + pgpool
  REQUIRE(scenarios.size() == rows.size());
  CHECK(rows[0].line == 2);
  CHECK(scenarios[0].name == rows[0].id);

  // Edit: reverse the order, delete a row, change a bound.
  std::reverse(rows.begin(), rows.end());
  rows.erase(rows.begin() + 1);
  auto pick = std::find_if(rows.begin(), rows.end(), [](const PlanRow& r) { return r.id == "power-off-primary"; });
  REQUIRE(pick != rows.end());
  pick->bounds = "failover_s<=12.5;lost_acked==0;acked_total>=100";
  pick->reason = "a reason, with a comma and \"quotes\"";
  write_plan_csv(sheet.string(), rows);

  scenarios.clear();
  const auto again = read_plan_csv(sheet.string(), &scenarios);
  REQUIRE(again.size() == 10);
  for (std::size_t i = 0; i < again.size(); ++i) {
    CHECK(again[i].id == rows[i].id);
    CHECK(again[i].line == i + 2);
  }
  const auto k = static_cast<std::size_t>(pick - rows.begin());
  CHECK(again[k].reason == rows[k].reason);
  // The generated scenario asserts the row's outcome (expect:), and the sheet's column is what runs.
  REQUIRE(scenarios[k].expect);
  CHECK(scenarios[k].expect->outcome == "failover");
  const auto& checks = scenarios[k].checks;  // the sheet's bounds replaced the scenario's
  REQUIRE(checks.size() == 3);
  CHECK(*checks.at("failover_s").max == Approx(12.5));
  CHECK(*checks.at("acked_total").min == 100);
  CHECK(*checks.at("lost_acked").min == 0);
  CHECK(*checks.at("lost_acked").max == 0);
  // Result columns are written back in the sheet's order.
  auto filled = again;
  filled[0].verdict = "pass";
  filled[0].seed = "42";
  write_plan_csv(sheet.string(), filled);
  const auto back = read_plan_csv(sheet.string());
  CHECK(back[0].verdict == "pass");
  CHECK(back[0].seed == "42");
  CHECK(back[0].id == again[0].id);
}

TEST_CASE("plan: malformed rows are reported with their line and column before anything runs", "[unit]") {
  const auto dir = temp_dir("plan-bad");
  write(dir / "ok.yaml", "steps:\n  - wait: 1s\n");
  write(dir / "broken.yaml", "steps:\n  - wat: 1s\n");
  const std::string good = "a,single-fault,power_off,primary,,,failover,failover_s<=30,ok.yaml,,,,,,\r\n";

  write(dir / "kind.csv", kHeader + good + "b,single-falt,power_off,primary,,,failover,,ok.yaml,,,,,,\r\n");
  auto p = plan_problems(dir / "kind.csv");
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("kind.csv:3: column kind: unknown kind 'single-falt'") != std::string::npos);

  write(dir / "bounds.csv", kHeader + good + good.substr(0, 0) +
                                "b,single-fault,power_off,primary,,,failover,failover_s<30,ok.yaml,,,,,,\r\n" +
                                "c,single-fault,power_off,primary,,,failover,nope<=1,ok.yaml,,,,,,\r\n" +
                                "d,single-fault,power_off,primary,,,failover,failover_s<=x,ok.yaml,,,,,,\r\n");
  p = plan_problems(dir / "bounds.csv");
  REQUIRE(p.size() == 3);
  CHECK(p[0].find("bounds.csv:3: column bounds: 'failover_s<30'") != std::string::npos);
  CHECK(p[1].find("bounds.csv:4: column bounds: 'nope<=1': unknown metric 'nope'") != std::string::npos);
  CHECK(p[2].find("bounds.csv:5: column bounds: 'failover_s<=x': 'x' is not a finite number") != std::string::npos);

  write(dir / "file.csv", kHeader + "a,single-fault,power_off,primary,,,failover,,missing.yaml,,,,,,\r\n" +
                              "b,single-fault,power_off,primary,,,failover,,broken.yaml,,,,,,\r\n");
  p = plan_problems(dir / "file.csv");
  REQUIRE(p.size() == 2);
  CHECK(p[0].find("file.csv:2: column scenario_file: no such file") != std::string::npos);
  CHECK(p[1].find("file.csv:3: column scenario_file: ") != std::string::npos);
  CHECK(p[1].find("broken.yaml:2") != std::string::npos);

  write(dir / "count.csv", kHeader + good + "b,single-fault,power_off\r\n");
  p = plan_problems(dir / "count.csv");
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("count.csv:3: too few fields") != std::string::npos);
  write(dir / "count2.csv", kHeader + good + good + good.substr(0, good.size() - 2) + ",extra\r\n");
  p = plan_problems(dir / "count2.csv");
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("count2.csv:4: too many fields") != std::string::npos);

  write(dir / "dup.csv", kHeader + good + good);
  p = plan_problems(dir / "dup.csv");
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("dup.csv:3: column id: duplicate id 'a' (first on line 2)") != std::string::npos);

  // The expected column fills the scenario's expect:; split-brain-risk is no outcome to sign off.
  write(dir / "expected.csv", kHeader + "a,single-fault,power_off,primary,,,no-failover,,ok.yaml,,,,,,\r\n" +
                                  "b,single-fault,power_off,primary,,,split-brain-risk,,ok.yaml,,,,,,\r\n" +
                                  "c,single-fault,power_off,primary,,,failovr,,ok.yaml,,,,,,\r\n" +
                                  "d,single-fault,power_off,primary,,,unknown,,ok.yaml,,,,,,\r\n");
  p = plan_problems(dir / "expected.csv");
  REQUIRE(p.size() == 2);
  CHECK(p[0].find("expected.csv:3: column expected: 'split-brain-risk' is not an outcome") != std::string::npos);
  CHECK(p[0].find("write the outcome the stack's design promises") != std::string::npos);
  CHECK(p[1].find("expected.csv:4: column expected: 'failovr' is not an outcome") != std::string::npos);
  write(dir / "expected-ok.csv", kHeader + "a,single-fault,power_off,primary,,,no-failover,,ok.yaml,,,,,,\r\n" +
                                     "d,single-fault,power_off,primary,,,unknown,,ok.yaml,,,,,,\r\n");
  std::vector<Scenario> scs;
  read_plan_csv((dir / "expected-ok.csv").string(), &scs);
  REQUIRE(scs.size() == 2);
  REQUIRE(scs[0].expect);
  CHECK(scs[0].expect->outcome == "no-failover");
  CHECK_FALSE(scs[1].expect);  // unknown asserts nothing

  write(dir / "header.csv", "id,kind\r\na,single-fault\r\n");
  p = plan_problems(dir / "header.csv");
  CHECK(has_problem(p, "header.csv:1: column bounds: missing from the header"));

  CHECK(has_problem(plan_problems(dir / "absent.csv"), "no such file"));
}

TEST_CASE("plan: bounds text", "[unit]") {
  auto b = parse_bounds("failover_s<=30; lost_acked==0;acked_total>=1000;");
  CHECK(b.size() == 3);
  CHECK(format_bounds(b) == "acked_total>=1000;failover_s<=30;lost_acked==0");
  CHECK(parse_bounds("none").empty());
  CHECK(format_bounds({}) == "none");
  b = parse_bounds("failover_s>=1;failover_s<=9");
  CHECK(*b["failover_s"].min == 1);
  CHECK(*b["failover_s"].max == 9);
  CHECK_THROWS_AS(parse_bounds("failover_s<=1;failover_s<=2"), std::invalid_argument);
  CHECK_THROWS_AS(parse_bounds("failover_s>=9;failover_s<=1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_bounds("failover_s=1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_bounds(";"), std::invalid_argument);
}

TEST_CASE("shards partition the seeded order exactly", "[unit]") {
  for (std::size_t count : {0u, 1u, 7u, 16u, 110u}) {
    for (int n = 1; n <= 5; ++n) {
      std::vector<int> seen(count, 0);
      for (int i = 1; i <= n; ++i)
        for (std::size_t p = 0; p < count; ++p)
          if (in_shard(p, i, n)) ++seen[p];
      // Every item in exactly one shard: union = all, shards disjoint.
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  }
  const auto a = seeded_order(50, 7, true);
  CHECK(a == seeded_order(50, 7, true));  // reproducible
  CHECK(a != seeded_order(50, 8, true));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == seeded_order(50, 7, false));  // a permutation; unshuffled is the identity
  CHECK(seeded_order(3, 7, false) == std::vector<std::size_t>{0, 1, 2});

  std::string err;
  CHECK(parse_shard("2/3", &err) == std::make_optional(std::make_pair(2, 3)));
  CHECK_FALSE(parse_shard("0/3", &err));
  CHECK_FALSE(parse_shard("4/3", &err));
  CHECK_FALSE(parse_shard("1/3x", &err));
  CHECK_FALSE(parse_shard("x", &err));
  CHECK(err.find("expected i/n") != std::string::npos);
}

TEST_CASE("report merge joins files with one header and rejects others with file:line", "[unit]") {
  const auto dir = temp_dir("merge");
  write(dir / "a.csv", "id,verdict,reason\r\nx,pass,\"ok, fine\"\r\n");
  write(dir / "b.csv", "id,verdict,reason\r\ny,fail,lost\r\nz,pass,\r\n");
  const auto out = (dir / "m.csv").string();
  CHECK(reports::merge_csv_files({(dir / "a.csv").string(), (dir / "b.csv").string()}, out) == 3);
  CHECK(slurp(out) == "id,verdict,reason\r\nx,pass,\"ok, fine\"\r\ny,fail,lost\r\nz,pass,\r\n");

  write(dir / "c.csv", "id,verdict,why\r\nq,pass,\r\n");
  CHECK_THROWS_WITH(reports::merge_csv_files({(dir / "a.csv").string(), (dir / "c.csv").string()}, out),
                    Catch::Contains("c.csv:1: header differs") && Catch::Contains("column 3 is 'why' here"));
  write(dir / "d.csv", "id,verdict,reason\r\nw,pass,\r\nx,fail,\r\n");
  CHECK_THROWS_WITH(reports::merge_csv_files({(dir / "a.csv").string(), (dir / "d.csv").string()}, out),
                    Catch::Contains("d.csv:3: column id: duplicate id 'x'") && Catch::Contains("a.csv:2"));
  write(dir / "e.csv", "id,verdict,reason\r\nv,pass\r\n");
  CHECK_THROWS_WITH(reports::merge_csv_files({(dir / "e.csv").string()}, out), Catch::Contains("e.csv:2: too few"));
}

TEST_CASE("scenario: an inject step may list several faults, fired at once", "[unit]") {
  const auto sc = parse_scenario(R"(kind: multi-fault
steps:
  - inject:
      - {id: a, fault: lan_cut, lan: service, target: primary}
      - {id: b, fault: process_kill, process: corosync, target: "standby:1"}
  - heal: b
)",
                                 "m.yaml");
  REQUIRE(sc.steps[0].faults.size() == 2);
  CHECK(sc.steps[0].faults[1].targets == std::vector<std::string>{"standby:1"});
  CHECK(sc.steps[0].describe().find(" & ") != std::string::npos);
  CHECK(sc.primary_fault()->id == "a");
  try {
    parse_scenario(
        "steps:\n  - inject: []\n  - inject:\n      - {id: x, fault: power_off, target: all}\n"
        "      - {id: x, fault: power_off, target: all}\n",
        "bad.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string w = e.what();
    CHECK(w.find("the list of faults is empty") != std::string::npos);
    CHECK(w.find("duplicate fault id 'x'") != std::string::npos);
  }
}

TEST_CASE("plan: power-all powers every node off in one step, then starts the cluster as after a site power loss",
          "[unit]") {
  const Inventory inv = parse_inventory(lab_inventory(2, "generic", "pgrex"), "inv.yaml");
  const auto multi = multi_fault_plan(inv, {"postmaster"});
  auto it = std::find_if(multi.begin(), multi.end(), [](const PlanItem& i) { return i.id == "power-all"; });
  REQUIRE(it != multi.end());
  CHECK(it->kind == "multi-fault");
  CHECK(it->expected == "outage");
  REQUIRE(it->faults.size() == 1);
  CHECK(it->faults[0].spec.kind == "power_off");
  CHECK(it->faults[0].spec.targets == std::vector<std::string>{"all"});
  CHECK(format_bounds(it->bounds) == "lost_acked==0");
  // The scenario: off, on again (heal), the cluster started, writes resume, healthy.
  const Scenario sc = parse_scenario(scenario_yaml(*it, inv), "power-all.yaml");
  std::vector<StepKind> kinds;
  for (const auto& s : sc.steps) kinds.push_back(s.kind);
  using K = StepKind;
  CHECK(kinds == std::vector<StepKind>{K::start, K::wait, K::inject, K::wait, K::heal, K::cluster, K::await_writes,
                                       K::recover, K::wait, K::stop});
  REQUIRE(sc.expect);
  CHECK(sc.expect->outcome == "outage");
}

TEST_CASE("plan: a pgpool watchdog adds its leader's and standby's faults and the two named watchdog items", "[unit]") {
  // The shape `lab up --stack pgpool-wd` writes: pgpool on every node, no pool host.
  std::string y = lab_inventory(3, "generic", "pgpool-wd");
  y = y.substr(0, y.find("endpoint:")) +
      "endpoint: {kind: vip, host: 198.18.1.100, port: 9999}\n"
      "driver: {type: pgpool, pcp_host: 198.18.1.100, pcp_user: pcpadmin,\n"
      "         watchdog: {vip: 198.18.1.100, nodes: [node1, node2, node3]}}\n";
  const Inventory inv = parse_inventory(y, "inv.yaml");
  REQUIRE(inv.driver.watchdog);
  REQUIRE(inv.node(kPoolNode) == nullptr);
  const auto singles = single_fault_plan(inv, stack_processes(inv));
  // 3 roles x (power, postmaster, 3 LANs) + power-off, pgpool kill and service
  // cut of the leader + pgpool kill of a watchdog standby.
  CHECK(singles.size() == 19);
  const auto by_id = [](const std::vector<PlanItem>& v, const std::string& id) {
    auto it = std::find_if(v.begin(), v.end(), [&](const PlanItem& i) { return i.id == id; });
    REQUIRE(it != v.end());
    return *it;
  };
  CHECK(by_id(singles, "power-off-pool_leader").expected == "failover-or-restart");
  CHECK(by_id(singles, "kill-pgpool-pool_leader").expected == "no-failover");
  CHECK(by_id(singles, "kill-pgpool-pool_standby").expected == "no-failover");
  CHECK(by_id(singles, "cut-service-pool_leader").expected == "failover-or-restart");
  CHECK(by_id(singles, "cut-service-primary").expected == "failover");
  CHECK(std::none_of(singles.begin(), singles.end(), [](const PlanItem& i) { return i.id == "kill-pgpool-pool"; }));

  // Pairs of the 15 role faults only (C(15,2) - 12), then svc-primary_x_repl-both,
  // ic-all, the two watchdog items and power-all.
  const auto multi = multi_fault_plan(inv, stack_processes(inv));
  CHECK(multi.size() == 105 - 12 + 5);
  for (const auto& m : multi)
    if (m.faults.size() == 2)
      for (const auto& f : m.faults) CHECK(f.spec.targets.at(0).rfind("pool_", 0) != 0);
  const PlanItem iso = by_id(multi, "wd-leader-isolated");
  CHECK(iso.expected == "no-failover");
  CHECK(iso.faults.at(0).spec.targets == std::vector<std::string>{"pool_leader"});
  CHECK(iso.faults[0].spec.lan == "interconnect");
  const PlanItem alone = by_id(multi, "wd-primary-lost-alone");
  CHECK(alone.expected == "no-failover");
  // Its scenario cuts standby:1's node from the primary only, with nft, and
  // holds the cut 20 s (long enough for pgpool's health check to see it).
  const Scenario sc = parse_scenario(scenario_yaml(alone, inv), "a.yaml");
  const Step& inject = *sc.first_inject();
  REQUIRE(inject.faults.size() == 1);
  CHECK(inject.faults[0].method == "nft");
  CHECK(inject.faults[0].peer == "primary");
  CHECK(inject.faults[0].targets == std::vector<std::string>{"standby:1"});
  CHECK(std::any_of(sc.steps.begin(), sc.steps.end(),
                    [](const Step& s) { return s.kind == StepKind::wait && s.duration == std::chrono::seconds(20); }));
  REQUIRE(sc.expect);
  CHECK(sc.expect->outcome == "no-failover");
}

TEST_CASE("managed processes are selected on their full command line", "[unit]") {
  CHECK(faults::managed_process_regex("pacemaker-controld") == "^([^ ]*/)?(pacemaker-controld|crmd)( |$)");
  CHECK(faults::managed_process_regex("patroni").find("python") != std::string::npos);
  CHECK(faults::managed_process_regex("postmaster").empty());
  CHECK(valid_process_selector("etcd"));
  CHECK(valid_process_selector("name:x"));
  CHECK_FALSE(valid_process_selector("name:"));
  CHECK_FALSE(valid_process_selector("pacemaker"));
  const Inventory inv = parse_inventory(lab_inventory(2), "inv.yaml");
  FaultSpec f;
  f.kind = "process_kill";
  f.process = "corosync";
  f.targets = {"node1"};
  const auto a = faults::plan_fault(f, inv, *inv.node("node1"), "t");
  CHECK(a.inject_command.find("pgrep -f '^([^ ]*/)?corosync( |$)'") != std::string::npos);
  CHECK_THROWS_WITH(faults::power_commands(inv, *inv.node(kPoolNode)), Catch::Contains("no power controller"));
}
