#pragma once
// The `bank` workload: clients move money between accounts; the total is
// invariant. Every transfer is one atomic statement; every Nth operation of a
// client is a snapshot read of the total. The BankChecker (checkers.hpp)
// verifies that every acknowledged read, and the final total, equal
// expected_total().
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "haverify/config/workload_options.hpp"
#include "haverify/core/history.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/client_threads.hpp"
#include "haverify/workload/workload.hpp"

namespace haverify {

// History ops written by each client thread (process "bank-N", N from 0):
//   {invoke, "transfer", "from,to,amount,id"} right before the statement is sent
//   {ok|fail|info, "transfer", same value, err}
//   {invoke, "read", ""} then {ok, "read", total} or {fail|info, "read", "", err}
//   {fail, "connect", "", err}  a failed connect; at most one per 100 ms per
//                               client, with "(+K more)" for the ones skipped
// `node` is endpoint.describe(). A transfer is one statement in autocommit:
//   WITH u AS (UPDATE t SET balance = balance + CASE account WHEN from THEN
//   -amount ELSE amount END WHERE run_id = R AND account IN (from, to)
//   RETURNING 1) INSERT INTO t_transfers(run_id, id, from_account,
//   to_account, amount) SELECT R, id, from, to, amount FROM u HAVING count(*) = 2
// so every applied transfer is logged under its id (the bank checker holds
// each transfer's outcome against the log and the balances); an ok transfer
// that did not update both accounts keeps "did not update both accounts: not
// logged" in its error field. A read is
//   SELECT coalesce(sum(balance), 0), count(*) FROM t WHERE run_id = R
// (one statement = one snapshot); when it sees a number of accounts other than
// `accounts` its ok op says so in the error field. After any non-ok op the
// client drops its connection, waits retry_backoff and reconnects.
class BankWorkload final : public Workload {
 public:
  BankWorkload(PgTarget endpoint, BankOptions options, History& history);
  ~BankWorkload() override;  // stops and joins
  BankWorkload(const BankWorkload&) = delete;
  BankWorkload& operator=(const BankWorkload&) = delete;

  // CREATE TABLE IF NOT EXISTS <table>(run_id bigint, account int, balance
  // bigint not null, primary key (run_id, account)), then inserts accounts
  // 0..accounts-1 of run_id with initial_balance unless they exist (ON
  // CONFLICT DO NOTHING), in one transaction. Idempotent. Throws
  // std::runtime_error on failure, std::invalid_argument on bad options.
  static void prepare(const PgTarget& endpoint, const BankOptions& options, std::chrono::milliseconds deadline);
  void prepare(std::chrono::milliseconds deadline) override { prepare(endpoint_, options_, deadline); }

  void start() override;  // starts `clients` threads; throws std::logic_error if started twice
  // Signals and joins; every op already invoked gets its completion op, so
  // this takes at most about commit_deadline + connect_deadline. Idempotent.
  void stop() override;
  WorkloadFigures figures() const override;  // transfers_acked, reads_ok, expected_total

  std::int64_t expected_total() const { return options_.initial_balance * options_.accounts; }
  std::int64_t transfers_acked() const { return transfers_acked_.load(); }
  std::int64_t reads_ok() const { return reads_ok_.load(); }

 private:
  void run_client(int index);
  // One transfer (id: client << 40 | op number) between two accounts drawn
  // from rng, logged under its id in <table>_transfers in the same statement,
  // recorded as invoke -> ok | fail | info with value "from,to,amount,id".
  QueryOutcome transfer_once(PGconn* conn, const std::string& process, const std::string& node, std::int64_t id,
                             std::mt19937_64& rng, bool& identify);
  // One snapshot read of the total, recorded as invoke -> ok | fail | info.
  QueryOutcome read_total(PGconn* conn, const std::string& process, const std::string& node);
  void backoff();
  bool stopping() const { return clients_.stopping(); }

  PgTarget endpoint_;
  BankOptions options_;
  History& history_;
  std::atomic<std::int64_t> transfers_acked_{0};
  std::atomic<std::int64_t> reads_ok_{0};
  // Last, so it is destroyed (its threads joined) before the state they use.
  ClientThreads clients_;
};

// The total of run_id's balances as one snapshot; nullopt (and *error set) on
// failure. *error is cleared on success. With no rows the total is 0.
std::optional<std::int64_t> bank_read_total(PGconn* conn, const std::string& table, std::int64_t run_id,
                                            std::chrono::milliseconds deadline, std::string* error);

}  // namespace haverify
