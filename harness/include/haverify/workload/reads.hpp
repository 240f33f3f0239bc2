#pragma once
// The `reads` workload: read-your-writes through the endpoint. Each client
// writes a row, and once it is acknowledged reads it back on the same
// connection in the next transaction, as an application does; every
// `foreign_every`th read is of another client's latest acknowledged row.
// Behind a load-balancing proxy (pgpool-II with load_balance_mode) such a
// read may go to a standby that has not replayed the write yet: a stale
// read. The read_your_writes checker (check/read_your_writes.hpp) counts
// them per node and judges them against ReadsOptions::max_stale.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/client_threads.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// History ops of each client thread (process "reader-N", N from 0):
//   {invoke, "write", id} -> {ok|fail|info, "write", id, err}
//   {invoke, "read", id}  -> {ok, "read", R} | {fail|info, "read", id, err}
//   {fail, "connect", "", err} (at most one per 100 ms per client)
// id = run_id * 1e9 + seq (table <table>, unique across clients and runs).
// R is a JSON object (docs/checkers.md, read_your_writes):
//   {"id":..,"own":true|false,"seen":true|false,"since_ack_ms":x,
//    "addr":"..","port":n,"instance":n}
// and, when not seen: "visible_after_ms" (ms from the write's ack to the
// first re-read that saw it; null if none within reread_for) and "rereads".
// since_ack_ms: from the write's acknowledgement (as its writer saw it) to
// the read's start. addr/port/instance: the server that answered the read,
// as it sees itself (inet_server_addr(), the postmaster's start time).
// `node` is the read endpoint's describe(). After any non-ok op the client
// drops its connections, waits retry_backoff and reconnects.
class ReadsWorkload final : public Workload {
 public:
  // Writes go to `write_endpoint`, reads to `read_endpoint` (the same
  // endpoint: one connection for both, as most applications do).
  ReadsWorkload(PgTarget write_endpoint, PgTarget read_endpoint, ReadsOptions options, History& history);
  ~ReadsWorkload() override;  // stops and joins
  ReadsWorkload(const ReadsWorkload&) = delete;
  ReadsWorkload& operator=(const ReadsWorkload&) = delete;

  // CREATE TABLE IF NOT EXISTS <table>(id bigint primary key, client int,
  // run_id bigint, written_at timestamptz). Throws std::runtime_error.
  static void prepare(const PgTarget& endpoint, const ReadsOptions& options, std::chrono::milliseconds deadline);
  void prepare(std::chrono::milliseconds deadline) override { prepare(write_, options_, deadline); }

  void start() override;                     // throws std::logic_error if started twice
  void stop() override;                      // signals and joins; idempotent
  WorkloadFigures figures() const override;  // writes_acked, reads_ok, reads_stale

 private:
  struct Conns;
  struct Published {  // a client's latest acknowledged row
    std::int64_t id = 0;
    std::chrono::steady_clock::time_point acked{};
  };
  void run_client(int index);
  bool cycle(int index, Conns& c, const std::string& process, std::uint64_t& reads);
  // Reads row `id` (acknowledged at `acked`) and records the read; false if
  // the read failed (the connection is then dropped).
  bool read_row(PGconn* conn, const std::string& process, std::int64_t id, bool own,
                std::chrono::steady_clock::time_point acked);
  bool stopping() const { return clients_.stopping(); }

  PgTarget write_;
  PgTarget read_;
  bool same_endpoint_;
  ReadsOptions options_;
  History& history_;
  std::atomic<std::int64_t> next_seq_{1};
  std::atomic<std::int64_t> writes_acked_{0};
  std::atomic<std::int64_t> reads_ok_{0};
  std::atomic<std::int64_t> reads_stale_{0};
  mutable std::mutex published_mu_;
  std::vector<Published> published_;
  // Last, so it is destroyed (its threads joined) before the state they use.
  ClientThreads clients_;
};

}  // namespace haverify
