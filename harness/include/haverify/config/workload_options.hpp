#pragma once
// The settings of the workloads and the process sampler: what a scenario's
// `workload:` and `sampler:` blocks parse into, and what the workloads run
// with (the runner adds run_id and seed). Plain data; the workloads are in
// workload/.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

struct LedgerOptions {
  int clients = 4;
  std::chrono::milliseconds connect_deadline{1000};
  std::chrono::milliseconds commit_deadline{3000};
  std::chrono::milliseconds retry_backoff{10};
  std::string table = "haverify_ledger";  // [A-Za-z0-9_.]+, may be schema-qualified
  std::int64_t run_id = 0;                // ids are unique across runs: id = run_id * 1e9 + seq
  int tcp_user_timeout_ms = 3000;
};

struct BankOptions {
  int clients = 2;
  int accounts = 10;  // >= 2
  std::int64_t initial_balance = 1000;
  std::chrono::milliseconds connect_deadline{1000};
  std::chrono::milliseconds commit_deadline{3000};  // also bounds a read
  std::chrono::milliseconds retry_backoff{10};
  std::string table = "haverify_bank";  // [A-Za-z0-9_.]+, may be schema-qualified
  std::int64_t run_id = 0;              // rows of other runs are left alone
  int read_every = 5;                   // every Nth op of a client is a snapshot read; <= 0: no reads
  std::uint64_t seed = 1;               // client i draws from seed and i
  int tcp_user_timeout_ms = 3000;
  std::int64_t max_amount = 100;  // transfers move 1..max_amount (balances may go negative)
};

// The `reads` workload (workload/reads.hpp): each client writes a row
// through the endpoint and reads it back, on the same connection, in the next
// transaction (as an application does); every `foreign_every`th read is of
// another client's latest acknowledged row. A read that does not see an
// acknowledged row is stale; the client then reads it again every
// `reread_every` until it is seen or `reread_for` has passed, to measure how
// stale. The read_your_writes checker judges the stale reads.
struct ReadsOptions {
  int clients = 4;
  std::chrono::milliseconds connect_deadline{1000};
  std::chrono::milliseconds commit_deadline{3000};  // also bounds each read
  std::chrono::milliseconds retry_backoff{10};
  std::chrono::milliseconds reread_every{5};
  std::chrono::milliseconds reread_for{2000};
  int foreign_every = 4;  // every Nth read is of another client's write; 0: none
  // Stale reads the read_your_writes checker accepts: of a client's own
  // writes, and of other clients' writes (-1: any number, reported only).
  std::int64_t max_stale = 0;
  std::int64_t max_stale_foreign = -1;
  std::string table = "haverify_reads";  // [A-Za-z0-9_.]+, may be schema-qualified
  std::int64_t run_id = 0;               // ids are unique across runs: id = run_id * 1e9 + seq
  int tcp_user_timeout_ms = 3000;
};

struct MaintenanceOptions {
  std::chrono::milliseconds every{30000};                // the loop's period
  std::vector<std::string> ops{"vacuum", "checkpoint"};  // run in this order each period
  std::string table;                                     // vacuum/vacuum_full/analyze target; "" = the database
  std::string via = "endpoint";                          // endpoint | primary
  std::string basebackup_from = "standby";               // node name or role (primary, standby)
  std::chrono::milliseconds deadline{600000};            // per operation
  std::int64_t bulk_rows = 0;                            // >0: fill bulk_table up to this many rows at setup
  std::string bulk_table = "haverify_bulk";
};

// vacuum vacuum_full analyze checkpoint basebackup churn (UPDATE every row of
// bulk_table: dead tuples for a VACUUM, dirty buffers for a CHECKPOINT)
bool valid_maintenance_op(const std::string& op);

// Process selectors: postgres (the postmaster of the node's data_dir, from
// its postmaster.pid, and its children; every process named postgres when
// the pid file cannot be read), pgpool, corosync, pacemaker (pacemakerd and
// pacemaker-*), patroni, etcd, or name:<comm> (exact /proc/PID/comm).
const std::vector<std::string>& default_process_selectors();
bool valid_sampler_selector(const std::string& s);

// The process sampler (series.csv) and the memory_growth checker.
struct SamplerOptions {
  std::chrono::milliseconds interval{5000};
  // How long one sample (one SSH exec) may take; 0: the interval, clamped to 1-10 s.
  std::chrono::milliseconds deadline{0};
  std::vector<std::string> processes = default_process_selectors();
  std::string memory = "anon";          // anon (RssAnon) | rss (VmRSS): the series memory_growth fits
  std::chrono::milliseconds warmup{0};  // samples this early in a process's series are not fitted
  double memory_growth_mb_per_hour = 10;
  int min_samples = 10;
  // Restarts of a process (a new pid under its name) with no fault, recover,
  // planned operation or exec in the restart_grace before them: at most this many.
  int max_restarts = 0;
  std::chrono::milliseconds restart_grace{120000};
  // Opens a node's transport (default: a new SshTransport to node.ssh).
  std::function<std::unique_ptr<Transport>(const NodeSpec&)> transport;
};

}  // namespace haverify
