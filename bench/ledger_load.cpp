// The ledger workload against one PostgreSQL server, recording its full
// History the way a run does (bench/load-vs-pgbench.sh and
// bench/harness-rss.sh run it): the History keeps no ops and streams them to
// history.jsonl, events.csv and throughput.csv, the metrics pass and the
// checker feed (durability, single_writer, convergence), with a listener like
// the runner's write watch. At the end the sinks are detached, closed and
// finished, as after a run.
//   haverify_bench_ledger <host> <port> <clients> <seconds> <out_dir> [jsonl_path]
// jsonl_path defaults to <out_dir>/history.jsonl. With HAVERIFY_BENCH_PASSES=0
// the metrics pass and the checker feed are left out (the writers and the
// workload alone, for bench/harness-rss.sh). The table haverify_ledger
// must not hold rows of the run id used (the wall clock in ms). Prints one line:
//   acked <n> seconds <s> tps <x> ops <history ops> jsonl_lines <n>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "haverify/check/checkers.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/workload/ledger.hpp"
#include "reports/stream.hpp"

using namespace haverify;

namespace {

// What the runner's listener does on every op: the last invoke per ledger
// client, under a mutex.
class WriteWatch {
 public:
  void on_op(const Op& op) {
    if (!op::is_ledger_write(op)) return;
    std::lock_guard lock(mu_);
    if (op.type == OpType::invoke) invoked_[op.process] = op.mono_ns;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Nanos> invoked_;
};

struct Args {
  PgTarget target;
  int clients = 8;
  double seconds = 20;
  std::string out_dir;
  std::string jsonl;
};

Args parse(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s <host> <port> <clients> <seconds> <out_dir> [jsonl_path]\n", argv[0]);
    std::exit(2);
  }
  Args a;
  a.target.host = argv[1];
  a.target.port = argv[2];
  a.target.user = "postgres";
  a.target.dbname = "postgres";
  a.clients = std::stoi(argv[3]);
  a.seconds = std::stod(argv[4]);
  a.out_dir = argv[5];
  a.jsonl = argc > 6 ? argv[6] : a.out_dir + "/history.jsonl";
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const Nanos start = mono_now_ns();
  const DurabilityChecker durability;
  const SingleWriterChecker single_writer;
  const ConvergenceChecker convergence;
  CheckerFeed checker_feed({&durability, &single_writer, &convergence});
  MetricsPass metrics_pass;
  reports::HistoryJsonlWriter history_out(a.jsonl);
  reports::EventsCsvWriter events_out(a.out_dir + "/events.csv", start);
  reports::ThroughputCsvWriter throughput_out(a.out_dir + "/throughput.csv", start, std::chrono::milliseconds(1000));
  std::vector<HistorySink*> sinks = {&history_out, &events_out, &throughput_out, &metrics_pass, &checker_feed};
  if (const char* p = std::getenv("HAVERIFY_BENCH_PASSES"); p && std::string(p) == "0") sinks.resize(3);
  History history(/*keep_in_memory=*/false);
  for (HistorySink* s : sinks) history.add_sink(s);
  WriteWatch watch;
  history.set_listener([&watch](const Op& op) { watch.on_op(op); });

  LedgerOptions opt;
  opt.clients = a.clients;
  opt.run_id = (wall_now_ns() / 1'000'000) % 9'000'000'000LL;
  LedgerWorkload::prepare(a.target, opt, std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t acked = 0;
  {
    LedgerWorkload w(a.target, opt, history);
    w.start();
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    w.stop();
    acked = w.acked();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (HistorySink* s : sinks) history.remove_sink(s);
  const std::string err = history_out.close();
  events_out.close();
  throughput_out.close();
  (void)metrics_pass.finish(std::nullopt);
  (void)checker_feed.finish(FinalState{});
  if (!err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  fmt::print("acked {} seconds {:.2f} tps {:.0f} ops {} jsonl_lines {}\n", acked, secs,
             static_cast<double>(acked) / secs, history.size(), history_out.lines());
  return 0;
}
