#pragma once
// The process sampler: every `interval`, one shell command per node (over
// the node's own SSH session, never shared with another thread) reads /proc
// for the processes of interest and records, per process, one History op
//   {process: sampler, type: ok, f: proc, node,
//    value: {"pid":n,"process":"postgres: walsender","rss_kb":n,"anon_kb":n,"cpu_pct":x}}
// (cpu_pct is absent on a process's first sample). A node that cannot be
// sampled gives {sampler, fail, sample, node, error}. series.csv and the
// MemoryGrowth checker are fed from these ops. See docs/metrics.md.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"
#include "haverify/io/transport.hpp"
#include "haverify/workload/client_threads.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// The node-side command (POSIX sh; reads /proc with shell builtins, one `tr`
// per matching process). Output lines:
//   H <clock ticks per s> <postmaster pid or 0> <uptime s>
//   P <contents of /proc/PID/stat>
//   M <VmRSS kB> <RssAnon kB>
//   C <cmdline, NULs as spaces>
// one P, M, C triple per matching process.
std::string proc_sample_command(const std::vector<std::string>& selectors, const std::string& data_dir);

struct ProcEntry {
  std::int64_t pid = 0, ppid = 0;
  std::string comm, cmdline;
  std::int64_t utime = 0, stime = 0, starttime = 0;  // clock ticks
  std::int64_t rss_kb = 0, anon_kb = 0;
};

struct ProcSnapshot {
  long hz = 100;
  std::int64_t postmaster = 0;  // 0 = unknown
  double uptime_s = 0;
  std::vector<ProcEntry> procs;
};

// Parses the command's output; throws std::runtime_error when it has no H line.
ProcSnapshot parse_proc_sample(const std::string& out);

// A readable name: postmaster, "postgres: <auxiliary>" (checkpointer,
// walsender, walreceiver, ...), "postgres: backend", "pgpool: child", the comm...
std::string process_name(const ProcEntry& p, std::int64_t postmaster);

// CPU % of one CPU between two samples of the same process (same pid and
// starttime); nullopt otherwise.
std::optional<double> cpu_percent(const ProcEntry& before, double uptime_before, const ProcEntry& after,
                                  double uptime_after, long hz);

class ProcessSampler final : public Workload {
 public:
  ProcessSampler(const Inventory& inv, History& history, SamplerOptions options);
  ~ProcessSampler() override;  // stops
  ProcessSampler(const ProcessSampler&) = delete;
  ProcessSampler& operator=(const ProcessSampler&) = delete;
  void prepare(std::chrono::milliseconds) override {}  // nothing to set up
  void start() override;                               // one thread per node
  void stop() override;                                // idempotent; returns within about one sample's deadline
  WorkloadFigures figures() const override;            // samples (taken or failed, all nodes)

 private:
  void loop(int node_index);
  std::map<std::int64_t, ProcEntry> record_snapshot(const ProcSnapshot& snap,
                                                    const std::map<std::int64_t, ProcEntry>& prev, double prev_uptime,
                                                    const std::string& node);
  void record(OpType type, std::string_view f, std::string value, const std::string& node, std::string error = {});
  const Inventory& inv_;
  History& history_;
  SamplerOptions options_;
  std::atomic<std::int64_t> samples_{0};
  ClientThreads threads_;
};

}  // namespace haverify
