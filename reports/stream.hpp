#pragma once
// Report writers that stream a run's History to disk as it is appended
// (HistorySinks), so that a long run never holds its ops in memory:
//  - history.jsonl: every op, one JSON object a line; buffered, written by its
//    own thread at least every `flush_interval` (default 500 ms);
//  - events.csv: the timeline (runner, nemesis, driver, probe roles, exec, maintenance);
//  - throughput.csv: the workloads per interval (ok/s, p50/p99 latency);
//  - series.csv: the process sampler's rows (RSS and CPU per process).
// Columns: docs/metrics.md.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "haverify/core/history.hpp"
#include "haverify/core/latency.hpp"
#include "haverify/io/csv.hpp"

namespace haverify::reports {

// One op as a history.jsonl line (without the newline): a JSON object with
// the keys in sorted order, as nlohmann::json writes it.
std::string history_json_line(const Op& op);
// The same, appended to `out`.
void append_history_json_line(std::string& out, const Op& op);

class HistoryJsonlWriter final : public HistorySink {
 public:
  // Opens (truncates) `path`; throws std::runtime_error if it cannot.
  explicit HistoryJsonlWriter(const std::string& path,
                              std::chrono::milliseconds flush_interval = std::chrono::milliseconds(500));
  ~HistoryJsonlWriter() override;  // close()
  HistoryJsonlWriter(const HistoryJsonlWriter&) = delete;
  HistoryJsonlWriter& operator=(const HistoryJsonlWriter&) = delete;

  void on_op(const Op& op) override;
  // Writes what is buffered and stops the writer thread. Idempotent. Returns
  // the first write error ("" if none).
  std::string close();
  std::uint64_t lines() const;

 private:
  void loop();
  std::string path_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::string buffer_;
  std::uint64_t lines_ = 0;
  bool closing_ = false;
  std::string error_;
  int fd_ = -1;
  std::thread thread_;
};

// events.csv: time, t_rel_s, process, type, f, value, node, error. Runner,
// nemesis, driver (planned operations, detections), exec and maintenance
// ops, and the probes' role changes (not their 50 ms samples).
class EventsCsvWriter final : public HistorySink {
 public:
  EventsCsvWriter(const std::string& path, Nanos run_start_mono);
  void on_op(const Op& op) override;
  void close();

 private:
  CsvWriter w_;
  Nanos start_;
};

// throughput.csv: one row per workload and interval (ledger writes, bank
// transfers): time (end of the interval), t_rel_s, workload, ok, fail, info,
// ok_per_s, p50_latency_ms, p99_latency_ms, max_latency_ms (of the ok ops
// completed in the interval; empty without one). Intervals are aligned on
// run_start_mono; a row is written when an op of a later interval arrives,
// and by close().
class ThroughputCsvWriter final : public HistorySink {
 public:
  ThroughputCsvWriter(const std::string& path, Nanos run_start_mono, std::chrono::milliseconds interval);
  void on_op(const Op& op) override;
  void close();

 private:
  struct Counts {
    std::uint64_t ok = 0, fail = 0, info = 0;
    LatencyHistogram latency;
  };
  void emit_until(Nanos mono);
  CsvWriter w_;
  Nanos start_;
  Nanos interval_;
  std::int64_t bucket_ = 0;  // index of the open interval
  Nanos wall_minus_mono_ = 0;
  bool have_clock_ = false;
  // The invokes not completed yet of one process (a client has one at a
  // time); slots are reused, so a long run allocates nothing per op.
  struct Open {
    std::string value;
    Nanos invoked = 0;
    bool open = false;
  };
  std::optional<Nanos> take_invoke(const Op& completion);
  void note_invoke(const Op& invoke);
  std::map<std::string, Counts, std::less<>> counts_;           // workload -> this interval
  std::map<std::string, std::vector<Open>, std::less<>> open_;  // process -> its open invokes
};

// series.csv: time, t_rel_s, node, pid, process, rss_kb, anon_kb, cpu_pct,
// one row per process per sample (sampler proc ops).
class SeriesCsvWriter final : public HistorySink {
 public:
  SeriesCsvWriter(const std::string& path, Nanos run_start_mono);
  void on_op(const Op& op) override;
  void close();

 private:
  CsvWriter w_;
  Nanos start_;
};

}  // namespace haverify::reports
