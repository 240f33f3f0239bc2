// Long runs over loopback: the process sampler over a throwaway sshd, and
// whole runs (haverify run) against a one-node "cluster" made of that sshd
// and a throwaway PostgreSQL (generic driver, the server as its own
// endpoint): a clean soak with maintenance passes, the shipped planted-leak
// scenario fails on memory_growth and its leaking process is killed.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "faults/ledger.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/runner.hpp"
#include "haverify/workload/sampler.hpp"
#include "local_pg.hpp"
#include "local_sshd.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string inventory_yaml(const Lab& lab, const LocalPg& pg) {
  return fmt::format(R"(name: loopback
stack: loopback
nodes:
  - name: local
    ssh: {{host: 127.0.0.1, port: {}, user: root, key: {}, known_hosts: {}}}
    postgres: {{host: 127.0.0.1, port: {}, user: postgres, database: postgres, data_dir: {}}}
    power: {{controller: command, run_on: local, off: "false", on: "true", status: "echo on"}}
endpoint: {{kind: vip, host: 127.0.0.1, port: "{}"}}
driver: {{type: generic}}
)",
                     lab.port, lab.client_key.string(), lab.known_hosts.string(), pg.port(), pg.data_dir(), pg.port());
}

bool hv_leak_running() {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string comm = slurp(e.path() / "comm");
    if (comm == "hv-leak\n") return true;
  }
  return false;
}

// The results.csv row of a one-run suite, as header -> value (no quoted commas expected in the fields read).
std::string field(const std::string& results_csv, const std::string& column) {
  const std::string text = slurp(results_csv);
  const auto eol = text.find("\r\n");
  std::vector<std::string> header;
  std::stringstream h(text.substr(0, eol));
  for (std::string c; std::getline(h, c, ',');) header.push_back(c);
  std::string row = text.substr(eol + 2);
  // Split respecting quotes.
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const char ch = row[i];
    if (ch == '"') {
      if (quoted && i + 1 < row.size() && row[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (ch == ',' && !quoted) {
      cells.emplace_back();
    } else if (ch == '\r' && !quoted) {
      break;
    } else {
      cells.back() += ch;
    }
  }
  for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i)
    if (header[i] == column) return cells[i];
  return "<no column " + column + ">";
}

std::string only_run_dir(const std::string& out) {
  for (const auto& e : fs::directory_iterator(out))
    if (e.is_directory()) return e.path().string();
  return {};
}

}  // namespace

TEST_CASE("sampler: reads the local PostgreSQL's processes over SSH", "[longrun]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  TempDir dir;
  std::ofstream(dir.path / "inventory.yaml") << inventory_yaml(lab, pg);
  const Inventory inv = load_inventory((dir.path / "inventory.yaml").string());
  History history;
  SamplerOptions o;
  o.interval = 300ms;
  o.processes = {"postgres"};
  {
    ProcessSampler sampler(inv, history, o);
    sampler.start();
    std::this_thread::sleep_for(2s);
    sampler.stop();
  }
  const std::string postmaster_pid = slurp(fs::path(pg.data_dir()) / "postmaster.pid")
                                         .substr(0, slurp(fs::path(pg.data_dir()) / "postmaster.pid").find('\n'));
  std::size_t samples = 0, with_cpu = 0, postmaster = 0, fails = 0;
  std::set<std::string> names;
  for (const auto& op : history.snapshot()) {
    if (!op::is_from(op, op::proc::sampler)) continue;
    if (op.type == OpType::fail) {
      ++fails;
      INFO(op.error);
      continue;
    }
    ++samples;
    CHECK(op.node == "local");
    with_cpu += op.value.find("\"cpu_pct\"") != std::string::npos;
    if (op.value.find("\"pid\":" + postmaster_pid + ",") != std::string::npos) {
      ++postmaster;
      CHECK(op.value.find("\"process\":\"postmaster\"") != std::string::npos);
    }
    const auto p = op.value.find("\"process\":\"");
    names.insert(op.value.substr(p + 11, op.value.find('"', p + 11) - p - 11));
  }
  CHECK(fails == 0);
  CHECK(postmaster >= 4);  // about 6 samples in 2 s
  CHECK(with_cpu > 0);
  CHECK(names.count("postgres: checkpointer"));
  CHECK(names.count("postgres: walwriter"));
  // Only this server's processes: every sampled postgres is the postmaster or its child.
  CHECK(samples >= postmaster * 4);
}

TEST_CASE("long run end to end: a clean soak passes, the planted leak is flagged and killed", "[longrun]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  Lab lab;
  TempDir dir;
  const std::string inv = (dir.path / "inventory.yaml").string();
  std::ofstream(inv) << inventory_yaml(lab, pg);
  const std::string ledger = (dir.path / "fault-ledger.json").string();

  SECTION("clean soak with maintenance: pass, with series, throughput and maintenance in the history") {
    // The threshold is wide (500 MB/h = 2 MB over the fitted 15 s): a 20 s run
    // only tells a fast leak from a flat series.
    const std::string sc = (dir.path / "clean.yaml").string();
    std::ofstream(sc) << R"(name: clean-soak
kind: long-run
converge_timeout: 5s
sampler: {interval: 1s, processes: [postgres], warmup: 5s, memory_growth_mb_per_hour: 500, min_samples: 8}
workload:
  ledger: {clients: 2}
  maintenance: {every: 5s, ops: [vacuum, checkpoint], table: haverify_ledger}
steps:
  - start: ledger
  - start: maintenance
  - soak: 10m
  - stop: maintenance
  - stop: ledger
checks:
  failed_writes: {max: 0}
  lost_acked: {max: 0}
  p99_latency_ms: {max: 1000}
)";
    RunOptions o;
    o.inventory_path = inv;
    o.scenario_paths = {sc};
    o.out_dir = (dir.path / "out-clean").string();
    o.ledger_path = ledger;
    o.duration = 20s;  // --duration
    const int rc = run_suite(o);
    const std::string run = only_run_dir(o.out_dir);
    INFO("reason: " << field(o.out_dir + "/results.csv", "reason"));
    CHECK(rc == kExitPass);
    CHECK(field(o.out_dir + "/results.csv", "verdict") == "pass");
    CHECK(field(o.out_dir + "/results.csv", "checkers").find("memory_growth=pass") != std::string::npos);
    CHECK_FALSE(field(o.out_dir + "/results.csv", "p99_latency_ms").empty());
    CHECK_FALSE(field(o.out_dir + "/results.csv", "max_rss_slope_mb_h").empty());
    const std::string series = slurp(run + "/series.csv");
    CHECK(series.rfind("time,t_rel_s,node,pid,process,rss_kb,anon_kb,cpu_pct\r\n", 0) == 0);
    CHECK(series.find(",local,") != std::string::npos);
    CHECK(series.find("postmaster") != std::string::npos);
    const std::string tp = slurp(run + "/throughput.csv");
    CHECK(tp.find(",ledger,") != std::string::npos);
    const std::string events = slurp(run + "/events.csv");
    CHECK(events.find("maintenance,ok,vacuum,VACUUM haverify_ledger;") != std::string::npos);
    CHECK(events.find("maintenance,ok,checkpoint,CHECKPOINT;") != std::string::npos);
    CHECK(events.find("soak 20000ms") != std::string::npos);
    CHECK(slurp(run + "/history.jsonl").find("\"process\":\"sampler\"") != std::string::npos);
  }

  SECTION("planted leak (the shipped scenario, --duration 30s): memory_growth fails on hv-leak") {
    RunOptions o;
    o.inventory_path = inv;
    o.scenario_paths = {std::string(HAVERIFY_SOURCE_DIR) + "/scenarios/long-run/planted-leak.yaml"};
    o.out_dir = (dir.path / "out-leak").string();
    o.ledger_path = ledger;
    // 25 s after the 5 s warmup: ~25 one-second samples of hv-leak, 10 needed.
    // At 20 s a loaded machine (a lab suite on both cores) once left fewer
    // than 10, and the verdict was `unknown`.
    o.duration = 30s;
    const int rc = run_suite(o);
    const std::string reason = field(o.out_dir + "/results.csv", "reason");
    INFO("reason: " << reason);
    CHECK(rc == kExitVerdictFailed);
    CHECK(field(o.out_dir + "/results.csv", "verdict") == "fail");
    CHECK(field(o.out_dir + "/results.csv", "checkers").find("memory_growth=fail") != std::string::npos);
    CHECK(reason.find("(hv-leak) grows") != std::string::npos);
    const double slope = std::stod(field(o.out_dir + "/results.csv", "max_rss_slope_mb_h"));
    CHECK(slope > 1800);  // 1 MB/s = 3600 MB/h
    CHECK(slope < 7200);
    CHECK(slurp(only_run_dir(o.out_dir) + "/events.csv").find("exec,ok,stop,leak") != std::string::npos);
    CHECK_FALSE(hv_leak_running());
    CHECK(faults::FaultLedger(ledger).entries().empty());
  }
}
