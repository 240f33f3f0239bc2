// report.html from a run directory (reports/run_timeline, html_charts,
// html_report): the timeline read back from history.jsonl and run.json
// (lanes, fault windows, the checker's split-brain window, write buckets,
// markers), and the page holds them as data-* attributes and fetches nothing.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <regex>
#include <string>

#include "../history_builder.hpp"
#include "../test_files.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/check/single_writer.hpp"
#include "haverify/core/latency.hpp"
#include "reports/html_report.hpp"
#include "reports/run_timeline.hpp"
#include "reports/stream.hpp"

using namespace haverify;
using namespace haverify::reports;
using haverify::testing::HistoryBuilder;
namespace fs = std::filesystem;

namespace {

// 3 s: writes every 10 ms; node1 primary throughout; at 1.0 s the service LAN
// of node1 is cut; node2 is promoted at 1.5 s while node1 stays writable (a
// split brain until node1 is stopped at 2.8 s); healed at 2.5 s.
HistoryBuilder split_brain_history() {
  HistoryBuilder h;
  h.add("runner", OpType::invoke, "setup", "lan-cut", 0);
  for (Nanos t = 0; t < 3000; t += 10) h.write(1, t / 10 + 1, t, t + 2);
  h.add("nemesis", OpType::invoke, "inject", "lan_cut service node1", 1000, "node1");
  h.add("nemesis", OpType::ok, "inject", "lan_cut service node1", 1010, "node1");
  h.add("nemesis", OpType::invoke, "heal", "lan_cut service node1", 2490, "node1");
  h.add("nemesis", OpType::ok, "heal", "lan_cut service node1", 2500, "node1");
  h.probes("node1", 0, 2750, true);
  h.probe_fail("node1", 2800);
  h.probes("node2", 0, 1450, false);
  h.probes("node2", 1500, 3000, true);
  h.cluster_op("switchover", "node2", 2600, 2700);
  std::stable_sort(h.ops.begin(), h.ops.end(), [](const Op& a, const Op& b) { return a.mono_ns < b.mono_ns; });
  return h;
}

fs::path write_run_dir(const std::string& name, RunRow& row) {
  const fs::path dir = haverify::testing::tmpfile(name);
  fs::create_directories(dir);
  const auto h = split_brain_history();
  std::ofstream out(dir / "history.jsonl");
  for (const auto& op : h.ops) out << history_json_line(op) << "\n";
  out.close();
  row.scenario = "lan-cut-service-primary";
  row.kind = "single-fault";
  row.stack = "pgpool";
  row.fault = "lan_cut";
  row.run_dir = dir.string();
  row.metrics = compute_metrics(h.ops, std::nullopt);
  row.checkers = {SingleWriterChecker().check(h.ops, FinalState{})};
  row.verdict = "fail";
  row.reason = "single_writer fail: split brain";
  write_run_json((dir / "run.json").string(), row);
  return dir;
}

}  // namespace

TEST_CASE("LatencyHistogram merge: the quantiles of the union", "[unit]") {
  LatencyHistogram a, b, all;
  for (int i = 1; i <= 100; ++i) {
    (i % 2 ? a : b).add(i * 1'000'000);
    all.add(i * 1'000'000);
  }
  a.merge(b);
  CHECK(a.count() == 100);
  CHECK(a.quantile_ms(0.5) == all.quantile_ms(0.5));
  CHECK(a.quantile_ms(0.99) == all.quantile_ms(0.99));
  CHECK(a.max_ms() == all.max_ms());
}

TEST_CASE("parse_wall_ns reads haverify's UTC stamps and nothing else", "[unit]") {
  CHECK(parse_wall_ns("1970-01-01T00:00:01.250Z") == std::optional<std::int64_t>(1'250'000'000));
  CHECK(parse_wall_ns("2026-12-07T07:11:17.478Z").has_value());
  CHECK_FALSE(parse_wall_ns("2026-12-07 07:11:17").has_value());
  CHECK_FALSE(parse_wall_ns("").has_value());
}

TEST_CASE("run timeline: lanes, fault window, the checker's split brain, write buckets, markers", "[unit]") {
  RunRow row;
  const fs::path dir = write_run_dir("timeline", row);
  REQUIRE(row.checkers.front().status == CheckStatus::fail);
  REQUIRE_FALSE(row.checkers.front().windows.empty());
  const RunTimeline t = read_run_timeline(dir.string());
  CHECK(t.note.empty());
  CHECK(t.end_s == Approx(3.0));
  REQUIRE(t.faults.size() == 1);
  CHECK(t.faults[0].from_s == Approx(1.0));
  CHECK(t.faults[0].to_s == Approx(2.5));
  CHECK(t.faults[0].label == "lan_cut service node1");
  // node1: writable, then down at 2.8 s; node2: standby, then writable at 1.5 s.
  REQUIRE(t.lanes.at("node1").size() == 2);
  CHECK(t.lanes.at("node1")[0].state == LaneState::writable);
  CHECK(t.lanes.at("node1")[1].state == LaneState::down);
  CHECK(t.lanes.at("node1")[1].from_s == Approx(2.8));
  REQUIRE(t.lanes.at("node2").size() == 2);
  CHECK(t.lanes.at("node2")[0].state == LaneState::standby);
  CHECK(t.lanes.at("node2")[0].to_s == Approx(1.5));
  CHECK(t.lanes.at("node2")[1].state == LaneState::writable);
  // The split brain as the checker found it.
  REQUIRE(t.marked.size() == row.checkers.front().windows.size());
  CHECK(t.marked[0].kind == "split_brain");
  CHECK(t.marked[0].from_s == Approx(row.checkers.front().windows[0].from_s));
  CHECK(t.marked[0].from_s > 1.4);
  CHECK(t.marked[0].to_s < 2.9);
  CHECK(t.bucket_s == Approx(0.1));
  CHECK(std::accumulate(t.acks.begin(), t.acks.end(), std::uint64_t{0}) == 300);
  CHECK(t.p99_ms[5] == Approx(2.0).epsilon(0.02));
  REQUIRE(t.operations.size() == 1);
  CHECK(t.operations[0].label == "switchover node2");
  bool inject = false;
  for (const auto& m : t.markers) inject = inject || (m.name == "inject" && std::abs(m.t_s - 1.0) < 0.002);
  CHECK(inject);
  // A longer run than max buckets: wider buckets, the same writes.
  const RunTimeline coarse = read_run_timeline(dir.string(), 8);
  CHECK(coarse.acks.size() <= 8);
  CHECK(coarse.bucket_s == Approx(0.4));
  CHECK(std::accumulate(coarse.acks.begin(), coarse.acks.end(), std::uint64_t{0}) == 300);
}

TEST_CASE("report.html: self-contained, the run's timeline in data attributes, a missing run directory said",
          "[unit]") {
  RunRow row;
  const fs::path dir = write_run_dir("report", row);
  RunRow gone = row;
  gone.run_dir = (dir.parent_path() / "no-such-run").string();
  const std::string html =
      report_html({"single-fault", "2026-12-07T09:00:00.000Z", dir.parent_path().string()}, {row, gone});
  // Nothing from the network: the only URL is SVG's namespace.
  const std::regex url("(https?:)?//[a-zA-Z0-9.-]+");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url); it != std::sregex_iterator(); ++it)
    CHECK(it->str() == "http://www.w3.org");
  CHECK(html.find("<script src") == std::string::npos);
  const std::string item = dir.filename().string();
  CHECK(html.find("id=\"run-" + item + "\" data-verdict=\"fail\" open") != std::string::npos);
  CHECK(html.find(R"(class="lane-seg writable" )") != std::string::npos);
  CHECK(html.find(R"(data-node="node2" data-state="writable" data-from-s="1.500")") != std::string::npos);
  CHECK(html.find(R"(class="fault-window" )") != std::string::npos);
  CHECK(html.find(R"(data-from-s="1.000" data-to-s="2.500" data-label="lan_cut service node1")") != std::string::npos);
  CHECK(html.find(R"(class="checker-window split_brain")") != std::string::npos);
  CHECK(html.find(R"(data-name="inject" data-t-s="1.000")") != std::string::npos);
  CHECK(html.find("run directory not found") != std::string::npos);
  CHECK(html.find(R"(<tr data-verdict="fail" data-stack="pgpool" data-fault="lan_cut">)") != std::string::npos);
}

TEST_CASE("report.html: two stacks of one scenario get the architects' chart, a sampler's series its memory chart",
          "[unit]") {
  RunRow a;
  const fs::path dir = write_run_dir("groups", a);
  std::ofstream(dir / "series.csv") << "time,t_rel_s,node,pid,process,rss_kb,anon_kb,cpu_pct\n"
                                       "2026-12-07T09:00:00.000Z,0.500,node1,101,postmaster,10240,2048,\n"
                                       "2026-12-07T09:00:01.000Z,1.500,node1,101,postmaster,12288,4096,1.5\n"
                                       "2026-12-07T09:00:02.000Z,2.500,node1,101,postmaster,14336,6144,1.5\n";
  std::vector<RunRow> rows;
  for (int i = 0; i < 4; ++i) {
    RunRow r = a;
    r.stack = i < 2 ? "pgrex" : "shared-disk";
    r.repetition = i % 2 + 1;
    r.metrics.failover_s = 10.0 + i;
    r.metrics.detect_s = 2.0;
    r.metrics.promote_s = 5.0 + i;
    rows.push_back(r);
  }
  const std::string html = report_html({"compare power-off", "", dir.parent_path().string()}, rows);
  CHECK(html.find(R"(<svg class="groups")") != std::string::npos);
  CHECK(html.find(R"(data-name="lan-cut-service-primary · pgrex" data-n="2")") != std::string::npos);
  CHECK(html.find(R"(data-name="lan-cut-service-primary · shared-disk" data-n="2")") != std::string::npos);
  CHECK(html.find(R"(<circle class="run" )") != std::string::npos);
  CHECK(html.find(R"(data-failover-s="13.000")") != std::string::npos);
  CHECK(html.find(R"(data-phase="detect" data-s="2.000")") != std::string::npos);
  CHECK(html.find("ratio 1.19 [") != std::string::npos);  // median 12.5 / 10.5, with its CI
  CHECK(html.find(R"(<svg class="memory")") != std::string::npos);
  CHECK(html.find("<h3>memory (RSS)</h3><p>no memory_growth verdict</p>") != std::string::npos);
  CHECK(html.find(R"x(data-series="node1 postmaster (pid 101)")x") != std::string::npos);
  // One run alone: no chart to compare.
  const std::string one = report_html({"single-fault", "", dir.parent_path().string()}, {a});
  CHECK(one.find(R"(<svg class="groups")") == std::string::npos);
}
