#pragma once
// The `ledger` workload: every client inserts rows with ids that are unique
// across clients and runs (id = run_id * 1e9 + seq) and records each write in
// the History as invoke -> ok | fail | info. An id is used exactly once, never
// retried. A write whose outcome is unknown (connection lost, client
// deadline) is `info`, never `fail` (see classify_failure in pg.hpp). The
// durability checker later compares the ok ids (from the History) with
// ledger_read_ids() on the surviving primary.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/client_threads.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// History ops written by each client thread (process "client-N", N from 0):
//   {invoke, "write", id}            right before the INSERT is sent
//   {ok|fail|info, "write", id, err} right after the outcome is known
//   {fail, "connect", "", err}       a failed connect; at most one per 100 ms per
//                                    client, with "(+K more)" for the ones skipped
// `node` is endpoint.describe(). After any non-ok write the client drops its
// connection, waits retry_backoff and reconnects (the endpoint may have moved).
// The acknowledged ids are in the History only (a sink or snapshot() reads
// them); the workload itself keeps just their count.
class LedgerWorkload final : public Workload {
 public:
  LedgerWorkload(PgTarget endpoint, LedgerOptions options, History& history);
  ~LedgerWorkload() override;  // stops and joins
  LedgerWorkload(const LedgerWorkload&) = delete;
  LedgerWorkload& operator=(const LedgerWorkload&) = delete;

  // CREATE TABLE IF NOT EXISTS <table>(id bigint primary key, client int not
  // null, run_id bigint not null, written_at timestamptz not null default
  // clock_timestamp()). Throws std::runtime_error on failure.
  static void prepare(const PgTarget& endpoint, const LedgerOptions& options, std::chrono::milliseconds deadline);
  void prepare(std::chrono::milliseconds deadline) override { prepare(endpoint_, options_, deadline); }

  void start() override;  // starts `clients` threads; throws std::logic_error if started twice
  // Signals and joins. Every write already invoked gets its completion op, so
  // this takes at most about commit_deadline + connect_deadline. Idempotent.
  void stop() override;
  WorkloadFigures figures() const override;  // acked

  std::int64_t acked() const;  // number of ok writes

 private:
  void run_client(int index);
  void backoff();
  bool stopping() const { return clients_.stopping(); }

  PgTarget endpoint_;
  LedgerOptions options_;
  History& history_;
  std::atomic<std::int64_t> next_seq_{1};
  std::atomic<std::int64_t> acked_{0};
  // Last, so it is destroyed (its threads joined) before the state they use.
  ClientThreads clients_;
};

// Every id of `run_id` in `table` on the node behind `conn`, sorted. On failure
// returns an empty vector and sets *error (cleared on success). When the
// server answers that the table does not exist (SQLSTATE 42P01: lost with
// the data, e.g. a site power loss with fsync = off), *table_missing is set
// too: the node answered, and holds none of the rows.
std::vector<std::int64_t> ledger_read_ids(PGconn* conn, const std::string& table, std::int64_t run_id,
                                          std::chrono::milliseconds deadline, std::string* error,
                                          bool* table_missing = nullptr);

}  // namespace haverify
