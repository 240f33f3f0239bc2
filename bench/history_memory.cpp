// Peak memory of a run's History processing for a synthetic history of N ops
// (bench/history-memory.sh runs it). Modes:
//   before: the History keeps every op (as before the streaming History); at
//           the end snapshot(), metrics and checkers over the vector, then
//           history.jsonl written in one go;
//   after:  the History keeps nothing; history.jsonl, events, throughput, the
//           metrics pass and the checker passes consume the ops as appended.
// Ops: 4 ledger clients writing back to back (invoke + ok, sequential ids,
// 1 in 1000 unknown), a probe sample of 3 nodes every 50 ms of synthetic time
// (about 1 op in 60), and a few runner ops. Prints one line:
//   mode ops peak_rss_mib seconds jsonl_mib
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "haverify/check/checkers.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/history.hpp"
#include "reports/results.hpp"
#include "reports/stream.hpp"

using namespace haverify;

namespace {

Op runner_op(OpType type, const std::string& value, Nanos t) {
  Op op;
  op.process = "runner";
  op.type = type;
  op.f = "step";
  op.value = value;
  op.mono_ns = t;
  op.wall_ns = t + 1'700'000'000'000'000'000;
  return op;
}

void generate(History& h, std::int64_t n) {
  const std::string endpoint = "198.18.1.10:9999/postgres";
  const std::string probe_value = R"({"in_recovery":false,"timeline":3,"lsn":"0/3000148","writable":true})";
  const std::int64_t run_id = 1732190000;
  Nanos t = 1'000'000'000;
  std::int64_t seq = 0, made = 0;
  Nanos next_probe = t;
  h.append(runner_op(OpType::invoke, "start ledger", t));
  while (made < n) {
    for (int c = 0; c < 4 && made < n; ++c) {
      const std::string id = std::to_string(run_id * 1'000'000'000 + ++seq);
      const std::string p = "client-" + std::to_string(c);
      Op a;
      a.process = p;
      a.type = OpType::invoke;
      a.f = "write";
      a.value = id;
      a.node = endpoint;
      a.mono_ns = t;
      a.wall_ns = t + 1'700'000'000'000'000'000;
      Op b = a;
      b.type = seq % 1000 == 0 ? OpType::info : OpType::ok;
      if (b.type == OpType::info) b.error = "server closed the connection unexpectedly";
      b.mono_ns = t + 400'000;
      b.wall_ns = a.wall_ns + 400'000;
      h.append(std::move(a));
      h.append(std::move(b));
      made += 2;
      t += 120'000;
    }
    if (t >= next_probe) {
      for (const char* node : {"node1", "node2", "node3"}) {
        Op s;
        s.process = "probe";
        s.type = OpType::ok;
        s.f = "state";
        s.value = probe_value;
        s.node = node;
        s.mono_ns = t;
        s.wall_ns = t + 1'700'000'000'000'000'000;
        h.append(std::move(s));
        ++made;
      }
      next_probe += 50'000'000;
    }
  }
  h.append(runner_op(OpType::ok, "stop ledger", t));
}

FinalState final_state() {
  FinalState f;
  f.primary = "node1";
  NodeFinalState n;
  n.node = "node1";
  n.reachable = true;
  n.ledger_ids = std::set<std::int64_t>{};
  n.table_checksums = {{"haverify_ledger", "x"}};
  f.nodes.push_back(n);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s before|after N_OPS DIR\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::int64_t n = std::atoll(argv[2]);
  const std::string dir = argv[3];
  const auto t0 = std::chrono::steady_clock::now();
  const DurabilityChecker durability;
  const SingleWriterChecker single_writer;
  const ConvergenceChecker convergence;
  const std::vector<const Checker*> checkers = {&durability, &single_writer, &convergence};
  const std::string jsonl = dir + "/history-" + mode + ".jsonl";
  std::size_t verdicts = 0;
  if (mode == "before") {
    History h(true);
    generate(h, n);
    const auto ops = h.snapshot();
    RunMetrics m = compute_metrics(ops, std::set<std::int64_t>{});
    verdicts = run_checkers(checkers, ops, final_state()).size();
    reports::write_events_csv(dir + "/events-before.csv", ops, 0);
    reports::write_history_jsonl(jsonl, ops);
    std::fprintf(stderr, "acked %lld\n", static_cast<long long>(m.acked_total));
  } else if (mode == "after") {
    CheckerFeed feed(checkers);
    MetricsPass metrics;
    reports::HistoryJsonlWriter out(jsonl);
    reports::EventsCsvWriter events(dir + "/events-after.csv", 0);
    reports::ThroughputCsvWriter throughput(dir + "/throughput-after.csv", 0, std::chrono::milliseconds(1000));
    History h(false);
    for (HistorySink* s : std::initializer_list<HistorySink*>{&out, &events, &throughput, &metrics, &feed})
      h.add_sink(s);
    generate(h, n);
    for (HistorySink* s : std::initializer_list<HistorySink*>{&out, &events, &throughput, &metrics, &feed})
      h.remove_sink(s);
    RunMetrics m = metrics.finish(std::set<std::int64_t>{});
    verdicts = feed.finish(final_state()).size();
    events.close();
    throughput.close();
    out.close();
    std::fprintf(stderr, "acked %lld\n", static_cast<long long>(m.acked_total));
  } else {
    std::fprintf(stderr, "mode must be before or after\n");
    return 2;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%s %lld %.1f %.1f %.1f %zu\n", mode.c_str(), static_cast<long long>(n),
              static_cast<double>(ru.ru_maxrss) / 1024.0, secs,
              static_cast<double>(std::filesystem::file_size(jsonl)) / (1024.0 * 1024.0), verdicts);
  return 0;
}
