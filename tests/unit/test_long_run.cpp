// Long runs: the streaming writers (history.jsonl, throughput.csv,
// results.csv), the process sampler's command and parsing, and background
// exec commands. The core, check and config parts are in core/, check/ and
// config/test_long_run_*.cpp.
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

}  // namespace

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

TEST_CASE(
    "results.csv ends with p99_latency_ms, max_rss_slope_mb_h, op_s, stall_s, measured_from, duration_s, "
    "maintenance_in_flight, vip_s and dns_s",
    "[unit]") {
  reports::RunRow r;
  r.metrics.p99_latency_ms = 12.3456;
  r.metrics.figures["max_rss_slope_mb_h"] = 3600.5;
  r.metrics.op_s = 8.1234;
  r.metrics.measured_from = "power_off node1";
  r.duration_s = 41.25;
  r.metrics.figures["maintenance_in_flight"] = 1;
  r.metrics.figures["vip_s"] = 4.25;
  r.metrics.figures["dns_s"] = 6.5;
  const auto h = reports::results_header();
  const auto f = reports::results_fields(r);
  REQUIRE(h.size() == f.size());
  REQUIRE(h.size() >= 9);
  const std::vector<std::string> tail_h(h.end() - 9, h.end()), tail_f(f.end() - 9, f.end());
  CHECK(tail_h == std::vector<std::string>{"p99_latency_ms", "max_rss_slope_mb_h", "op_s", "stall_s", "measured_from",
                                           "duration_s", "maintenance_in_flight", "vip_s", "dns_s"});
  CHECK(tail_f ==
        std::vector<std::string>{"12.346", "3600.50", "8.123", "", "power_off node1", "41.250", "1", "4.250", "6.500"});
}
