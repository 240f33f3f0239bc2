// Long runs: the streaming History and its sinks, compact id sets, latency
// histograms, the process sampler's command and parsing, the memory_growth
// checker, background exec commands and the long-run scenario keys.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "faults/exec.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/id_set.hpp"
#include "haverify/core/latency.hpp"
#include "haverify/io/transport.hpp"
#include "haverify/workload/sampler.hpp"
#include "history_builder.hpp"
#include "reports/results.hpp"
#include "reports/stream.hpp"
#include "test_files.hpp"

using namespace haverify;
using namespace std::chrono_literals;
using haverify::testing::slurp;
using haverify::testing::tmpfile;

namespace {

using haverify::testing::kMs;
using haverify::testing::make_op;
constexpr Nanos kSec = 1'000'000'000;

// A sampler op for memory_growth: `mb` of RssAnon (and VmRSS = mb + 100).
Op sample(const std::string& node, std::int64_t pid, const std::string& process, double t_s, double mb) {
  const auto kb = static_cast<std::int64_t>(mb * 1024);
  return make_op("sampler", OpType::ok, "proc",
                 fmt::format(R"({{"pid":{},"process":"{}","rss_kb":{},"anon_kb":{}}})", pid, process, kb + 102400, kb),
                 static_cast<Nanos>(t_s * 1e9), node);
}

bool has_reason(const CheckerVerdict& v, const std::string& needle) {
  for (const auto& r : v.reasons)
    if (r.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("IdSet: ranges merge whatever the insertion order", "[unit]") {
  IdSet s;
  CHECK(s.empty());
  for (std::int64_t id = 1000; id < 2000; ++id) s.insert(id);
  CHECK(s.size() == 1000);
  CHECK(s.ranges() == 1);
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> shuffled;
  for (std::int64_t id = 5000; id < 25000; ++id)
    if (id % 97 != 0) shuffled.push_back(id);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (auto id : shuffled) s.insert(id);
  s.insert(1500);  // a duplicate
  CHECK(s.size() == 1000 + shuffled.size());
  CHECK(s.contains(1000));
  CHECK(s.contains(1999));
  CHECK_FALSE(s.contains(2000));
  CHECK_FALSE(s.contains(5044));  // 97 * 52: a gap
  CHECK(s.contains(5045));
  CHECK(s.ranges() == 1 + 207);  // 1000..1999, then 5000..24999 split at every multiple of 97
  std::vector<std::int64_t> first;
  s.for_each([&](std::int64_t id) {
    first.push_back(id);
    return first.size() < 3;
  });
  CHECK(first == std::vector<std::int64_t>{1000, 1001, 1002});
  CHECK(s.memory_bytes() <= 8192 * sizeof(std::int64_t) + 1024 * 16);  // the tail buffer and ~200 ranges
}

TEST_CASE("LatencyHistogram: quantiles within 1/128", "[unit]") {
  LatencyHistogram h;
  CHECK_FALSE(h.quantile_ms(0.99));
  for (int i = 1; i <= 10000; ++i) h.add(static_cast<Nanos>(i) * 1000);  // 1 us .. 10 ms
  CHECK(h.count() == 10000);
  CHECK(*h.quantile_ms(0.5) == Approx(5.0).epsilon(1.0 / 128));
  CHECK(*h.quantile_ms(0.99) == Approx(9.9).epsilon(1.0 / 128));
  CHECK(*h.max_ms() == Approx(10.0));
  h.reset();
  h.add(3 * kSec);
  CHECK(*h.quantile_ms(0.99) == Approx(3000).epsilon(1.0 / 128));
}

// ---------------------------------------------------------------------------

TEST_CASE("History without retention hands every op to its sinks in order", "[unit]") {
  struct Collect : HistorySink {
    std::vector<std::int64_t> idx;
    Nanos last_mono = 0;
    bool monotone = true;
    void on_op(const Op& op) override {
      idx.push_back(op.index);
      monotone = monotone && op.mono_ns >= last_mono;
      last_mono = op.mono_ns;
    }
  } sink;
  History h(false);
  h.add_sink(&sink);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 500; ++i) h.record("client-" + std::to_string(t), OpType::invoke, "write", "1");
    });
  for (auto& t : ts) t.join();
  h.remove_sink(&sink);
  h.record("runner", OpType::ok, "step", "after");
  CHECK(h.size() == 2001);
  CHECK(h.snapshot().empty());
  REQUIRE(sink.idx.size() == 2000);
  for (std::size_t i = 0; i < sink.idx.size(); ++i) CHECK(sink.idx[i] == static_cast<std::int64_t>(i));
  CHECK(sink.monotone);
}

TEST_CASE("history.jsonl streamed by its writer equals the one written at the end", "[unit]") {
  std::vector<Op> ops;
  for (int i = 0; i < 2000; ++i) {
    Op op = make_op("client-" + std::to_string(i % 3), i % 2 ? OpType::ok : OpType::invoke, "write",
                    std::to_string(100 + i / 2), (i + 1) * kMs, "vip:5432/app");
    op.index = i;
    if (i == 7) op.error = "quote \" and bad byte \xff";
    ops.push_back(op);
  }
  const std::string streamed = tmpfile("streamed.jsonl"), whole = tmpfile("whole.jsonl");
  {
    reports::HistoryJsonlWriter w(streamed, 20ms);
    for (std::size_t i = 0; i < 1000; ++i) w.on_op(ops[i]);
    std::this_thread::sleep_for(200ms);  // flushed by the writer thread, not only at close
    CHECK(slurp(streamed).size() > 0);
    for (std::size_t i = 1000; i < ops.size(); ++i) w.on_op(ops[i]);
    CHECK(w.close().empty());
    CHECK(w.lines() == 2000);
  }
  reports::write_history_jsonl(whole, ops);
  CHECK(slurp(streamed) == slurp(whole));
  CHECK(slurp(whole).find("\"error\":\"quote \\\" and bad byte \xef\xbf\xbd\"") != std::string::npos);
}

TEST_CASE("CheckerFeed gives the verdicts of run_checkers, a throwing pass is unknown", "[unit]") {
  std::vector<Op> ops;
  for (int i = 0; i < 100; ++i) {
    ops.push_back(make_op("client-0", OpType::invoke, "write", std::to_string(i), (2 * i + 1) * kMs));
    ops.push_back(
        make_op("client-0", i == 50 ? OpType::info : OpType::ok, "write", std::to_string(i), (2 * i + 2) * kMs));
  }
  ops.push_back(make_op("client-0", OpType::invoke, "write", "100", 300 * kMs));  // never completed
  FinalState f;
  f.primary = "n1";
  NodeFinalState n;
  n.node = "n1";
  n.reachable = true;
  n.ledger_ids = std::set<std::int64_t>{};
  for (std::int64_t i = 0; i < 100; ++i)
    if (i != 7) n.ledger_ids->insert(i);
  f.nodes.push_back(n);

  struct ThrowsMidway final : Checker {
    std::string name() const override { return "midway"; }
    std::unique_ptr<CheckerPass> start() const override {
      struct P : CheckerPass {
        int n = 0;
        void observe(const Op&) override {
          if (++n == 10) throw std::runtime_error("odd op");
        }
        CheckerVerdict finish(const FinalState&) override { return {}; }
      };
      return std::make_unique<P>();
    }
  } midway;
  const DurabilityChecker d;
  CheckerFeed feed({&d, &midway});
  for (auto& op : ops) feed.on_op(op);
  const auto streamed = feed.finish(f);
  const auto whole = run_checkers({&d}, ops, f);
  REQUIRE(streamed.size() == 2);
  CHECK(streamed[0].status == CheckStatus::fail);
  CHECK(streamed[0].figures == whole[0].figures);
  CHECK(streamed[0].reasons == whole[0].reasons);
  CHECK(streamed[0].figures.at("lost_acked") == 1);
  CHECK(streamed[0].figures.at("unknown") == 2);
  CHECK(streamed[1].status == CheckStatus::unknown);
  CHECK(has_reason(streamed[1], "checker threw: odd op (at op"));

  // The metrics pass: p99 latency of the ok writes (1 ms each), failed writes.
  auto m = compute_metrics(ops, n.ledger_ids);
  CHECK(*m.p99_latency_ms == Approx(1.0).epsilon(0.01));
  CHECK(*m.lost_acked == 1);
  CHECK(m.value("failed_writes") == 0.0);
  CHECK(*m.value("p99_latency_ms") == Approx(1.0).epsilon(0.01));
}

TEST_CASE("throughput.csv: ok/s and latency per interval and workload", "[unit]") {
  const std::string path = tmpfile("throughput.csv");
  {
    reports::ThroughputCsvWriter w(path, 0, 1000ms);
    Nanos t = 0;
    for (int i = 0; i < 30; ++i) {  // 10 writes/s for 3 s, 2 ms each
      t = i * 100 * kMs + 1;
      w.on_op(make_op("client-1", OpType::invoke, "write", std::to_string(i), t));
      w.on_op(make_op("client-1", OpType::ok, "write", std::to_string(i), t + 2 * kMs));
    }
    w.on_op(make_op("bank-0", OpType::invoke, "transfer", "1,2,3", t + 3 * kMs));
    w.on_op(make_op("bank-0", OpType::info, "transfer", "1,2,3", t + 4 * kMs));
    w.close();
  }
  const std::string text = slurp(path);
  CHECK(text.rfind("time,t_rel_s,workload,ok,fail,info,ok_per_s,p50_latency_ms,p99_latency_ms,max_latency_ms\r\n", 0) ==
        0);
  CHECK(text.find(",1.000,ledger,10,0,0,10.0,2.0") != std::string::npos);
  CHECK(text.find(",3.000,ledger,10,0,0,10.0,2.0") != std::string::npos);
  CHECK(text.find(",3.000,bank,0,0,1,0.0,,,") != std::string::npos);
}

// ---------------------------------------------------------------------------

TEST_CASE("memory_growth: t quantiles", "[unit]") {
  CHECK(t95_one_sided(1) == Approx(6.314));
  CHECK(t95_one_sided(10) == Approx(1.812));
  CHECK(t95_one_sided(30) == Approx(1.697));
  CHECK(t95_one_sided(40) == Approx(1.684));
  CHECK(t95_one_sided(50) == Approx(1.676).margin(0.002));
  CHECK(t95_one_sided(100000) == Approx(1.645).margin(0.001));
}

TEST_CASE("memory_growth: flat passes, a leak of known slope fails, too few samples is unknown", "[unit]") {
  MemoryGrowthOptions o;
  o.max_mb_per_hour = 10;
  const MemoryGrowthChecker checker(o);
  std::vector<Op> ops;

  SECTION("flat") {
    for (int i = 0; i < 60; ++i) ops.push_back(sample("n1", 10, "postgres: checkpointer", i * 5.0, 40));
    const auto v = run_checker(checker, ops, {});
    CHECK(v.status == CheckStatus::pass);
    CHECK(v.figures.at("max_rss_slope_mb_h") == Approx(0).margin(1e-9));
    CHECK(v.figures.at("memory_series") == 1);
  }
  SECTION("a leak of 1 MB/s (3600 MB/h) among flat processes") {
    for (int i = 0; i < 30; ++i) {
      ops.push_back(sample("n1", 10, "postmaster", i * 1.0, 30));
      ops.push_back(sample("n2", 77, "hv-leak", i * 1.0, 10 + i * 1.0));
    }
    const auto v = run_checker(checker, ops, {});
    CHECK(v.status == CheckStatus::fail);
    CHECK(v.figures.at("max_rss_slope_mb_h") == Approx(3600).epsilon(1e-6));
    CHECK(has_reason(v, "n2 pid 77 (hv-leak) grows 3600.0 MB/h"));
    CHECK(has_reason(v, "steepest: n2 pid 77 (hv-leak)"));
  }
  SECTION("noisy but flat: the lower bound stays below the threshold") {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(0, 2.0);  // +-2 MB around 100 MB
    for (int i = 0; i < 120; ++i) ops.push_back(sample("n1", 5, "pgpool: child", i * 5.0, 100 + noise(rng)));
    const auto v = run_checker(checker, ops, {});
    CHECK(v.status == CheckStatus::pass);
    CHECK(v.figures.at("max_rss_slope_lower_mb_h") < 10);
  }
  SECTION("too few samples") {
    for (int i = 0; i < 9; ++i) ops.push_back(sample("n1", 10, "corosync", i * 5.0, 40 + i));
    const auto v = run_checker(checker, ops, {});
    CHECK(v.status == CheckStatus::unknown);
    CHECK(has_reason(v, "no process has 10 samples"));
    CHECK(run_checker(checker, {}, {}).status == CheckStatus::unknown);
  }
  SECTION("a restarted process (new pid) is a new series, not growth") {
    for (int i = 0; i < 20; ++i) ops.push_back(sample("n1", 100, "postmaster", i * 5.0, 20));
    for (int i = 20; i < 40; ++i) ops.push_back(sample("n1", 200, "postmaster", i * 5.0, 80));
    const auto v = run_checker(checker, ops, {});
    CHECK(v.status == CheckStatus::pass);
    CHECK(v.figures.at("memory_series") == 2);
  }
  SECTION("the warmup is left out; rss can be fitted instead of anon") {
    MemoryGrowthOptions w = o;
    w.warmup_ns = 30 * kSec;
    for (int i = 0; i < 40; ++i) ops.push_back(sample("n1", 9, "postgres: backend", i * 5.0, i < 6 ? i * 10.0 : 60));
    CHECK(run_checker(MemoryGrowthChecker(o), ops, {}).status == CheckStatus::fail);
    CHECK(run_checker(MemoryGrowthChecker(w), ops, {}).status == CheckStatus::pass);
    w.memory = "rss";
    CHECK(run_checker(MemoryGrowthChecker(w), ops, {}).status == CheckStatus::pass);
  }
}

// ---------------------------------------------------------------------------

namespace {
// Captured on a Debian 12 machine from proc_sample_command (a PostgreSQL 15
// lab node with cluster_name 15/main and a kept SSH session); trailing spaces
// of the process titles kept.
const char* const kCaptured =
    "H 100 6798 10768.10\n"
    "P 6798 (postgres) S 1 6798 6798 0 -1 4194560 4119 1370 0 0 25 41 0 0 20 0 1 0 1051070 225853440 7471 "
    "18446744073709551615 93961693147136 93961698603481 140720363021664 0 0 0 0 4194304 1602 0 0 0 17 1 0 0 0 0 0 "
    "93961701083216 93961701300938 93961731559424 140720363029062 140720363029188 140720363029188 140720363032532 0\n"
    "M 29884 4412\n"
    "C /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/"
    "postgresql.conf\n"
    "P 10422 (postgres) S 6798 10422 10422 0 -1 4194368 640 0 0 0 0 0 0 0 20 0 1 0 1051079 150835200 2080 "
    "18446744073709551615 93961693147136 93961698603481 140720363019984 0 0 0 4194304 24131584 536887815 1 0 0 17 0 "
    "0 0 0 0 0 93961701083216 93961701300938 93961731559424 140720363029062 140720363029188 140720363029188 "
    "140720363032532 0\n"
    "M 8436 2380\n"
    "C postgres: 15/main: walwriter                                                 \n"
    "P 10431 (postgres) S 6798 10431 10431 0 -1 4194624 1234 0 0 0 312 95 0 0 20 0 1 0 1051090 226902016 5000 "
    "18446744073709551615 93961693147136 93961698603481 140720363019984 0 0 0 4194304 24131584 536887815 1 0 0 17 0 "
    "0 0 0 0 0 93961701083216 93961701300938 93961731559424 140720363029062 140720363029188 140720363029188 "
    "140720363032532 0\n"
    "M 21000 6100\n"
    "C postgres: 15/main: walsender replicator 198.18.2.12(40112) streaming 0/3000148\n"
    "P 10433 (postgres) R 6798 10433 10433 0 -1 4194368 900 0 0 0 150 22 0 0 20 0 1 0 1051095 226902016 4000 "
    "18446744073709551615 93961693147136 93961698603481 140720363019984 0 0 0 4194304 24131584 536887815 1 0 0 17 0 "
    "0 0 0 0 0 93961701083216 93961701300938 93961731559424 140720363029062 140720363029188 140720363029188 "
    "140720363032532 0\n"
    "M 18000 3300\n"
    "C postgres: 15/main: postgres postgres 198.18.1.10(52344) INSERT\n"
    "P 31686 (corosync) S 31524 31686 31686 0 -1 4194560 50098 0 1 0 656 648 0 0 -100 0 9 0 987905 314634240 24562 "
    "18446744073709551615 94441094508544 94441094807297 140735947587424 0 0 0 0 0 19494 0 0 0 17 0 99 2 0 0 0 "
    "94441094927520 94441094945112 94441664000000 140735947590078 140735947590100 140735947590100 140735947591653 0\n"
    "M 98248 60124\n"
    "C corosync -f\n"
    "P 4242 (weird) name)) S 1 4242 4242 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5000 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0 0 0 0\n"
    "M 512 128\n"
    "C ./weird\n";
}  // namespace

TEST_CASE("sampler: captured /proc output parses into processes with readable names", "[unit]") {
  const ProcSnapshot s = parse_proc_sample(kCaptured);
  CHECK(s.hz == 100);
  CHECK(s.postmaster == 6798);
  CHECK(s.uptime_s == Approx(10768.10));
  REQUIRE(s.procs.size() == 6);
  CHECK(s.procs[0].pid == 6798);
  CHECK(s.procs[0].rss_kb == 29884);
  CHECK(s.procs[0].anon_kb == 4412);
  CHECK(s.procs[2].utime == 312);
  CHECK(s.procs[2].stime == 95);
  CHECK(s.procs[2].starttime == 1051090);
  CHECK(s.procs[5].comm == "weird) name)");
  CHECK(s.procs[5].ppid == 1);
  std::vector<std::string> names;
  for (const auto& p : s.procs) names.push_back(process_name(p, s.postmaster));
  CHECK(names == std::vector<std::string>{"postmaster", "postgres: walwriter", "postgres: walsender",
                                          "postgres: backend", "corosync", "weird) name)"});
  CHECK_THROWS(parse_proc_sample("garbage\n"));
  // CPU: 100 ticks in 5 s at 100 Hz = 20 % of a CPU; a reused pid is not the same process.
  ProcEntry a = s.procs[2], b = a;
  b.utime += 60;
  b.stime += 40;
  CHECK(*cpu_percent(a, 100.0, b, 105.0, 100) == Approx(20.0));
  b.starttime += 1;
  CHECK_FALSE(cpu_percent(a, 100.0, b, 105.0, 100));
}

TEST_CASE("sampler: the command finds this test process in the real /proc", "[unit]") {
  std::string comm = slurp("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  REQUIRE(valid_sampler_selector("name:" + comm));
  CHECK_FALSE(valid_sampler_selector("name:bad;rm"));
  CHECK_FALSE(valid_sampler_selector("mysql"));
  LocalTransport t;
  ExecResult r = t.exec(proc_sample_command({"postgres", "name:" + comm}, "/nonexistent"), 10s);
  REQUIRE(r.ok());
  const ProcSnapshot s = parse_proc_sample(r.out);
  CHECK(s.postmaster == 0);
  bool found = false;
  for (const auto& p : s.procs) {
    if (p.pid != ::getpid()) continue;
    found = true;
    CHECK(p.rss_kb > 1000);
    CHECK(p.anon_kb > 0);
    CHECK(p.comm == comm);
    CHECK(process_name(p, s.postmaster) == comm);
    CHECK(p.cmdline.find("haverify_unit_tests") != std::string::npos);
  }
  CHECK(found);
}

TEST_CASE("background exec: started detached, alive, killed with its process group", "[unit]") {
  const std::string pidfile = tmpfile("bg.pid");
  LocalTransport t;
  REQUIRE(t.exec(faults::background_launch_command("sleep 301 & sleep 302", pidfile), 10s).ok());
  CHECK(t.exec(faults::background_alive_command(pidfile), 10s).ok());
  std::string pid = slurp(pidfile);
  pid = pid.substr(0, pid.find(' '));
  CHECK(t.exec("pgrep -g " + pid + " -x sleep | wc -l | grep -qx 2", 10s).ok());
  REQUIRE(t.exec(faults::background_kill_command(pidfile), 10s).ok());
  CHECK_FALSE(std::filesystem::exists(pidfile));
  CHECK_FALSE(t.exec("pgrep -g " + pid, 10s).ok());
  CHECK(t.exec(faults::background_kill_command(pidfile), 10s).ok());  // idempotent
  CHECK_FALSE(t.exec(faults::background_alive_command(pidfile), 10s).ok());
}

// ---------------------------------------------------------------------------

TEST_CASE("long-run scenario keys: sampler, soak, exec, maintenance", "[unit]") {
  auto sc = parse_scenario(R"(kind: long-run
sampler: {interval: 2s, processes: [postgres, "name:hv-leak"], memory: rss, warmup: 30s,
          memory_growth_mb_per_hour: 25, min_samples: 5}
workload:
  maintenance: {every: 20s, ops: [vacuum, checkpoint, basebackup], table: haverify_ledger, via: primary,
                basebackup_from: node2, deadline: 5m, bulk_rows: 1000}
steps:
  - start: ledger
  - start: maintenance
  - exec: {id: leak, node: node1, command: "sleep 100", background: true}
  - exec: {node: standby, command: "true", timeout: 5s}
  - maintenance: {op: vacuum_full, table: haverify_bulk, background: true}
  - maintenance: {op: basebackup, from: standby}
  - soak: 10m
  - stop: maintenance
checks:
  failed_writes: {max: 0}
  p99_latency_ms: {max: 50}
  max_rss_slope_mb_h: {max: 25}
)",
                           "lr.yaml");
  REQUIRE(sc.sampler);
  CHECK(sc.sampler->interval == 2s);
  CHECK(sc.sampler->processes == std::vector<std::string>{"postgres", "name:hv-leak"});
  CHECK(sc.sampler->memory == "rss");
  CHECK(sc.sampler->warmup == 30s);
  CHECK(sc.sampler->memory_growth_mb_per_hour == 25);
  CHECK(sc.sampler->min_samples == 5);
  REQUIRE(sc.maintenance);
  CHECK(sc.maintenance->ops == std::vector<std::string>{"vacuum", "checkpoint", "basebackup"});
  CHECK(sc.maintenance->via == "primary");
  CHECK(sc.maintenance->deadline == 5min);
  CHECK(sc.maintenance->bulk_rows == 1000);
  REQUIRE(sc.steps.size() == 8);
  CHECK(sc.steps[2].kind == StepKind::exec);
  CHECK(sc.steps[2].exec.background);
  CHECK(sc.steps[2].exec.id == "leak");
  CHECK(sc.steps[3].exec.timeout == 5s);
  CHECK(sc.steps[4].maintenance.op == "vacuum_full");
  CHECK(sc.steps[4].maintenance.background);
  CHECK(sc.steps[5].maintenance.from == "standby");
  CHECK(sc.steps[6].kind == StepKind::soak);
  CHECK(sc.steps[6].duration == 10min);
  CHECK(sc.has_soak());
  sc.override_soak(2h);
  CHECK(sc.steps[6].duration == 2h);
  CHECK(sc.checks.count("p99_latency_ms"));

  auto plain = parse_scenario("steps: [{wait: 1s}]\n", "p.yaml");
  CHECK_FALSE(plain.sampler);
  CHECK_FALSE(plain.has_soak());
}

TEST_CASE("long-run scenario keys: errors carry their key", "[unit]") {
  auto keys = [](const std::string& yaml) {
    std::vector<std::string> out;
    try {
      parse_scenario(yaml, "bad.yaml");
    } catch (const ConfigError& e) {
      for (const auto& i : e.issues()) out.push_back(i.key);
    }
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  auto k = keys(R"(sampler: {interval: 10ms, processes: [mysql], memory: pss, min_samples: 1, colour: red}
workload: {maintenance: {ops: [defrag], via: pgpool}}
steps:
  - exec: {node: n1}
  - exec: {node: n1, command: x, background: true, timeout: 5s}
  - maintenance: {op: reindex}
  - maintenance: {op: vacuum, from: node2}
  - soak: forever
  - start: pgbench
)");
  CHECK(has(k, "sampler.interval"));
  CHECK(has(k, "sampler.processes"));
  CHECK(has(k, "sampler.memory"));
  CHECK(has(k, "sampler.min_samples"));
  CHECK(has(k, "sampler.colour"));
  CHECK(has(k, "workload.maintenance.ops"));
  CHECK(has(k, "workload.maintenance.via"));
  CHECK(has(k, "steps[0].exec.command"));
  CHECK(has(k, "steps[1].exec.timeout"));
  CHECK(has(k, "steps[2].maintenance.op"));
  CHECK(has(k, "steps[3].maintenance.from"));
  CHECK(has(k, "steps[4].soak"));
  CHECK(has(k, "steps[5].start"));
}

TEST_CASE("results.csv ends with p99_latency_ms, max_rss_slope_mb_h, op_s and stall_s", "[unit]") {
  reports::RunRow r;
  r.metrics.p99_latency_ms = 12.3456;
  r.metrics.figures["max_rss_slope_mb_h"] = 3600.5;
  r.metrics.op_s = 8.1234;
  const auto h = reports::results_header();
  const auto f = reports::results_fields(r);
  REQUIRE(h.size() == f.size());
  REQUIRE(h.size() >= 4);
  const std::vector<std::string> tail_h(h.end() - 4, h.end()), tail_f(f.end() - 4, f.end());
  CHECK(tail_h == std::vector<std::string>{"p99_latency_ms", "max_rss_slope_mb_h", "op_s", "stall_s"});
  CHECK(tail_f == std::vector<std::string>{"12.346", "3600.50", "8.123", ""});
}
