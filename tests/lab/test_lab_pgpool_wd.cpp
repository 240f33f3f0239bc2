// Real-lab tests of stack pgpool-wd (pgpool-II with the watchdog, issue 18):
// each case brings its own lab up (--profile fast) and always takes it down.
//  - [stacks] (CI): a power-off of the primary fails over; a power-off of the
//    watchdog leader's node moves the VIP (vip_s) and writes resume.
//  - [stacks-extended]: the DNS endpoint (--endpoint dns): the leader's power-off
//    moves the name (dns_s), and a DNS server that stops answering fails each
//    connect within its deadline, with a DNS error of its own.
//  - [stacks-extended]: read load balancing: with load_balance_mode = on reads
//    reach the standbys and read_your_writes counts the stale ones; with
//    disable_load_balance_on_write = 'always' none is stale (the control).
#include <nlohmann/json.hpp>

#include "lab_support.hpp"

using namespace labtest;

namespace {

struct WdLab {
  explicit WdLab(const std::string& extra = "") {
    const std::string args = "up --stack pgpool-wd --profile fast" + extra;
    auto up = sh(lab(args), 600s);
    INFO(up.out << up.err);
    REQUIRE(up.exit_code == 0);
    WARN(fmt::format("lab {}: {}", args, up.out.substr(0, up.out.find('\n'))));
  }
  ~WdLab() { sh(lab("down"), 300s); }
};

struct WdRow {
  std::string scenario, failover_s, vip_s, dns_s, lost_acked, verdict, reason, checkers, run_dir;
};

std::vector<WdRow> read_wd_rows(const fs::path& p) {
  io::CSVReader<9, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(p.string());
  in.read_header(io::ignore_extra_column, "scenario", "failover_s", "vip_s", "dns_s", "lost_acked", "verdict", "reason",
                 "checkers", "run_dir");
  std::vector<WdRow> out;
  WdRow r;
  while (
      in.read_row(r.scenario, r.failover_s, r.vip_s, r.dns_s, r.lost_acked, r.verdict, r.reason, r.checkers, r.run_dir))
    out.push_back(r);
  return out;
}

const WdRow& row_of(const std::vector<WdRow>& rows, const std::string& scenario) {
  auto it = std::find_if(rows.begin(), rows.end(), [&](const WdRow& r) { return r.scenario == scenario; });
  REQUIRE(it != rows.end());
  return *it;
}

// The node whose service address db.lab.test resolves to now (--endpoint dns).
std::string dns_leader() {
  const Inventory inv = load_inventory(inventory_path());
  const DnsResult r = dns_resolve(inv.endpoint.host, inv.endpoint.dns_server, 2000ms);
  INFO(r.error);
  REQUIRE(r.ok());
  for (const auto& n : inv.nodes)
    if (const auto* itf = n.interface_on("service"); itf && address_without_prefix(itf->address) == r.addresses[0])
      return n.name;
  FAIL("db.lab.test resolves to " << r.addresses[0] << ", no node's service address");
  return {};
}

// The figures of one checker of a run, and its status and first reason, from
// the run's run.json.
std::map<std::string, double> checker_figures(const fs::path& run_dir, const std::string& checker,
                                              std::string& line_out) {
  std::map<std::string, double> out;
  const auto j = nlohmann::json::parse(slurp(run_dir / "run.json"));
  for (const auto& c : j.at("checkers")) {
    if (c.at("checker") != checker) continue;
    line_out =
        c.at("status").get<std::string>() + ": " + (c.at("reasons").empty() ? "" : c["reasons"][0].get<std::string>());
    for (const auto& [k, v] : c.at("figures").items())
      if (v.is_number()) out[k] = v.get<double>();
  }
  return out;
}

}  // namespace

TEST_CASE("pgpool-wd stack: a primary power-off fails over, a leader power-off moves the VIP", "[stacks]") {
  WdLab up;
  const fs::path out = fresh_dir("pgpool-wd");
  run_scenarios(out, "scenarios/single-fault/power-off-primary.yaml tests/lab/scenarios/wd-leader-power-off.yaml");
  const auto rows = read_wd_rows(out / "suite" / "results.csv");
  for (const char* sc : {"power-off-primary", "wd-leader-power-off"}) {
    const WdRow& r = row_of(rows, sc);
    INFO(sc << ": " << r.verdict << " " << r.reason);
    CHECK(r.verdict == "pass");
    CHECK(r.lost_acked == "0");
    REQUIRE_FALSE(r.failover_s.empty());
    CHECK(r.checkers.find("single_vip=pass") != std::string::npos);
    CHECK(r.checkers.find("single_writer=pass") != std::string::npos);
    WARN(fmt::format("pgpool-wd {}: failover_s={} vip_s={}", sc, r.failover_s, r.vip_s));
  }
  // The leader's power-off: the VIP answered on another node (the phase is measured, not empty).
  const WdRow& leader = row_of(rows, "wd-leader-power-off");
  REQUIRE_FALSE(leader.vip_s.empty());
  CHECK(std::stod(leader.vip_s) > 0.0);
  CHECK(std::stod(leader.vip_s) <= std::stod(leader.failover_s));
}

TEST_CASE("pgpool-wd stack with a DNS endpoint: the leader's power-off moves the name, a silent DNS server is bounded",
          "[stacks-extended]") {
  WdLab up(" --endpoint dns");
  const fs::path out = fresh_dir("pgpool-wd-dns");
  const std::string before = dns_leader();
  run_scenarios(out, "tests/lab/scenarios/wd-dns-leader-power-off.yaml");
  const auto rows = read_wd_rows(out / "suite" / "results.csv");
  const WdRow& r = row_of(rows, "wd-dns-leader-power-off");
  INFO(r.verdict << " " << r.reason);
  CHECK(r.verdict == "pass");
  CHECK(r.lost_acked == "0");
  CHECK(r.vip_s.empty());  // no VIP behind a DNS endpoint
  REQUIRE_FALSE(r.dns_s.empty());
  CHECK(std::stod(r.dns_s) > 0.0);
  REQUIRE_FALSE(r.failover_s.empty());
  CHECK(std::stod(r.dns_s) <= std::stod(r.failover_s));
  require_lab_healthy(180s);
  CHECK(dns_leader() != before);
  WARN(fmt::format("pgpool-wd --endpoint dns, leader {} powered off: failover_s={} dns_s={}", before, r.failover_s,
                   r.dns_s));

  // The DNS server stops answering (dnsmasq SIGSTOPped) while the leader's
  // pgpool is killed: every client must reconnect, and every connect must
  // fail within its 1 s deadline with a DNS error (not the resolver's 5 s
  // tries), until the server answers again.
  const std::string leader = dns_leader();
  const fs::path silent = fresh_dir("pgpool-wd-dns-silent");
  const fs::path scenario = silent / "dns-silent.yaml";
  std::ofstream(scenario) << fmt::format(R"(name: dns-silent
kind: single-fault
workload:
  ledger: {{clients: 4, connect_deadline: 1s, commit_deadline: 3s}}
steps:
  - start: ledger
  - wait: 3s
  - exec: {{node: {0}, command: "sleep 8"}}
  - inject: {{id: kill, fault: process_kill, process: pgpool, target: {0}}}
  - await_writes: {{timeout: 90s}}
  - wait: 3s
  - heal: kill
  - recover: {{timeout: 120s}}
  - stop: ledger
checks:
  lost_acked: {{max: 0}}
)",
                                         leader);
  // The test pauses dnsmasq when the run's 8 s exec step starts (the clients
  // are connected) and resumes it 12 s later (the kill comes after 8 s).
  bp::child run(kBin, "run", scenario.string(), "--inventory", inventory_path(), "--out", (silent / "suite").string(),
                bp::std_out > (silent / "stdout.txt").string(), bp::std_err > (silent / "stderr.txt").string(),
                bp::env["HAVERIFY_LEDGER"] = (silent / "ledger.json").string());
  const fs::path events = silent / "suite" / "01-dns-silent-r1" / "events.csv";
  const auto until = std::chrono::steady_clock::now() + 180s;
  while (std::chrono::steady_clock::now() < until && run.running() &&
         slurp(events).find(",invoke,step,exec") == std::string::npos)
    std::this_thread::sleep_for(100ms);
  INFO(slurp(silent / "stdout.txt") << slurp(silent / "stderr.txt"));
  REQUIRE(slurp(events).find(",invoke,step,exec") != std::string::npos);
  auto stop = sh(lab("exec dns -- sh -c 'kill -STOP $(cat /run/dnsmasq.pid)'"), 20s);
  REQUIRE(stop.exit_code == 0);
  std::this_thread::sleep_for(12s);
  auto cont = sh(lab("exec dns -- sh -c 'kill -CONT $(cat /run/dnsmasq.pid)'"), 20s);
  REQUIRE(cont.exit_code == 0);
  run.wait();
  INFO(slurp(silent / "stdout.txt") << slurp(silent / "stderr.txt"));
  // The failed connects: each client's DNS failures, and the gaps between them.
  std::map<std::string, std::vector<double>> fails;
  std::ifstream history(fs::path(read_wd_rows(silent / "suite" / "results.csv").at(0).run_dir) / "history.jsonl");
  for (std::string line; std::getline(history, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("f", "") != "connect" || j.value("type", "") != "fail") continue;
    if (j.value("error", "").rfind("dns: db.lab.test: no answer from", 0) != 0) continue;
    fails[j.value("process", "")].push_back(static_cast<double>(j.value("mono_ns", std::int64_t{0})) / 1e9);
  }
  REQUIRE_FALSE(fails.empty());
  double worst_gap = 0;
  for (const auto& [client, ts] : fails)
    for (std::size_t i = 1; i < ts.size(); ++i) worst_gap = std::max(worst_gap, ts[i] - ts[i - 1]);
  WARN(
      fmt::format("DNS server silent: {} client(s) failed their connects with DNS errors; the longest gap between "
                  "two of one client's failures was {:.3f} s (connect deadline 1 s)",
                  fails.size(), worst_gap));
  CHECK(worst_gap <= 1.5);
  const auto silent_rows = read_wd_rows(silent / "suite" / "results.csv");
  CHECK(silent_rows.at(0).lost_acked == "0");
  CHECK_FALSE(silent_rows.at(0).failover_s.empty());  // writes resumed once the server answered
}

TEST_CASE(
    "pgpool-wd stack with read load balancing: stale reads are counted per node, and disable_load_balance_on_write = "
    "always removes them",
    "[stacks-extended]") {
  for (const bool control : {false, true}) {
    const std::string sets = control
                                 ? " --pool-set load_balance_mode=on --pool-set disable_load_balance_on_write=always"
                                 : " --pool-set load_balance_mode=on";
    WdLab up(sets);
    const fs::path out = fresh_dir(control ? "pgpool-wd-reads-always" : "pgpool-wd-reads");
    run_scenarios(out, "tests/lab/scenarios/wd-reads.yaml");
    const auto rows = read_wd_rows(out / "suite" / "results.csv");  // (row_of returns a reference into it)
    const WdRow& r = row_of(rows, "wd-reads");
    std::string line;
    const auto f = checker_figures(r.run_dir, "read_your_writes", line);
    INFO(sets << ": " << r.verdict << " " << r.reason << "\n" << line);
    REQUIRE(f.count("reads_ok"));
    CHECK(f.at("reads_ok") >= 100);
    double on_standbys = 0;
    for (const auto& [k, v] : f)
      if (k.rfind("reads_on_", 0) == 0 && k != "reads_on_node1") on_standbys += v;  // node1: the first primary
    WARN(fmt::format("pgpool-wd{}: {} reads, {} on the standbys, {} stale of own rows, {} of others', worst {:.3f} ms",
                     sets, f.at("reads_ok"), on_standbys, f.at("reads_stale"), f.at("reads_stale_foreign"),
                     f.at("read_staleness_ms")));
    if (control) {
      // After its first write a session is never balanced again: every read on the primary.
      CHECK(f.at("reads_stale") == 0);
      CHECK(f.at("reads_stale_foreign") == 0);
      CHECK(r.checkers.find("read_your_writes=pass") != std::string::npos);
    } else {
      // Load balancing sends reads to the standbys, and some of them miss the row just written.
      CHECK(on_standbys > 0);
      CHECK(f.at("reads_stale") > 0);
      CHECK(r.verdict == "fail");
      CHECK(r.checkers.find("read_your_writes=fail") != std::string::npos);
    }
  }
}
