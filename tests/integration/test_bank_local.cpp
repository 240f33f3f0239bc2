// Integration tests for the bank workload and the BankChecker against a
// throwaway local PostgreSQL 15 (tag [pg]), LocalPg from local_pg.hpp.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/run/final_state.hpp"
#include "haverify/workload/workload_bank.hpp"
#include "local_pg.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::int64_t final_total(const PgTarget& t, const BankOptions& opt) {
  std::string err;
  PgConnPtr c = pg_connect(t, 5s, &err);
  INFO(err);
  REQUIRE(c);
  const auto total = bank_read_total(c.get(), opt.table, opt.run_id, 5s, &err);
  INFO(err);
  REQUIRE(total);
  CHECK(err.empty());
  return *total;
}

struct BankCounts {
  std::size_t reads_ok = 0, bad_reads = 0, transfers_ok = 0, transfers_fail = 0, transfers_info = 0, invokes = 0,
              completions = 0, connect_fails = 0, servers = 0;
  std::vector<std::string> problems;
};

// Checks the op pairing per client (invoke then its completion, same f) and counts.
BankCounts count_ops(const std::vector<Op>& ops, std::int64_t expected) {
  BankCounts c;
  std::map<std::string, const Op*> open;
  for (const Op& op : ops) {
    if (!op::is_bank_client(op)) continue;
    if (op.f == op::fn::connect) {
      ++c.connect_fails;
      continue;
    }
    if (op.f == op::fn::server) {  // a new connection's first acknowledged transfer names its server
      const Op* inv = open[op.process];
      if (!inv || inv->f != op::fn::transfer) c.problems.push_back(op.process + ": server op outside a transfer");
      if (op.type != OpType::ok || op.value.find(R"("instance":)") == std::string::npos)
        c.problems.push_back(op.process + ": server op without an instance: " + op.value + op.error);
      ++c.servers;
      continue;
    }
    if (op.type == OpType::invoke) {
      if (open[op.process]) c.problems.push_back(op.process + ": invoke while another is open");
      open[op.process] = &op;
      ++c.invokes;
      continue;
    }
    const Op* inv = open[op.process];
    if (!inv || inv->f != op.f) {
      c.problems.push_back(op.process + ": completion without its invoke");
    } else if (op.f == op::fn::transfer && inv->value != op.value) {
      c.problems.push_back(op.process + ": transfer value mismatch");
    }
    open[op.process] = nullptr;
    ++c.completions;
    if (op.f == op::fn::read && op.type == OpType::ok) {
      ++c.reads_ok;
      if (op.value != std::to_string(expected)) c.bad_reads++;
    }
    if (op.f == op::fn::transfer) {
      c.transfers_ok += op.type == OpType::ok;
      c.transfers_fail += op.type == OpType::fail;
      c.transfers_info += op.type == OpType::info;
      // (An ok transfer may carry a WARNING, e.g. the immediate shutdown's, sent after the commit.)
      if (op.type == OpType::ok && op.error.find("did not update both accounts") != std::string::npos) {
        c.problems.push_back("ok transfer that did not update both accounts: " + op.error);
      }
    }
  }
  for (const auto& [p, inv] : open) {
    if (inv) c.problems.push_back(p + ": invoke left open");
  }
  return c;
}

// The verdict with the final total and the transfer log read from `t`, as a run reads them.
CheckerVerdict bank_verdict(const std::vector<Op>& ops, std::int64_t expected, std::int64_t total, const PgTarget& t,
                            const BankOptions& opt) {
  std::string err;
  PgConnPtr c = pg_connect(t, 5s, &err);
  REQUIRE(c);
  FinalStateOptions fo;
  fo.run_id = opt.run_id;
  fo.bank_table = opt.table;
  fo.bank_initial_balance = opt.initial_balance;
  FinalState f;
  f.bank_log = read_bank_log(c.get(), fo, 5s);
  REQUIRE(f.bank_log);
  CHECK(f.bank_log->mismatched_accounts == 0);
  CHECK_FALSE(f.bank_log->applied_ids.empty());
  f.bank_expected_total = expected;
  f.bank_total = total;
  return run_checker(BankChecker(), ops, f);
}

}  // namespace

TEST_CASE("bank: 4 clients for 2 s keep the total, the BankChecker passes", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  BankOptions opt;
  opt.clients = 4;
  opt.run_id = 11;
  opt.seed = 7;
  BankWorkload::prepare(pg.target(), opt, 5s);
  BankWorkload::prepare(pg.target(), opt, 5s);  // idempotent

  BankOptions other = opt;  // another run in the same table is left alone
  other.run_id = 12;
  other.initial_balance = 5;
  BankWorkload::prepare(pg.target(), other, 5s);

  History history;
  BankWorkload w(pg.target(), opt, history);
  CHECK(w.expected_total() == 10'000);
  CHECK(final_total(pg.target(), opt) == 10'000);
  w.start();
  CHECK_THROWS_AS(w.start(), std::logic_error);
  std::this_thread::sleep_for(2s);
  w.stop();
  w.stop();  // idempotent

  const auto ops = history.snapshot();
  const BankCounts c = count_ops(ops, w.expected_total());
  for (const auto& p : c.problems) FAIL_CHECK(p);
  fmt::print(stderr, "[bank] {} transfers acked, {} reads ok in 2 s (4 clients); fail={} info={}\n", c.transfers_ok,
             c.reads_ok, c.transfers_fail, c.transfers_info);
  CHECK(c.invokes == c.completions);
  CHECK(c.servers >= 1);
  CHECK(c.transfers_ok > 100);
  CHECK(c.reads_ok > 20);
  CHECK(c.bad_reads == 0);
  CHECK(c.transfers_info == 0);
  CHECK(static_cast<std::int64_t>(c.transfers_ok) == w.transfers_acked());
  CHECK(static_cast<std::int64_t>(c.reads_ok) == w.reads_ok());
  for (const Op& op : ops) CHECK(op.node == pg.target().describe());

  const std::int64_t total = final_total(pg.target(), opt);
  CHECK(total == w.expected_total());
  CHECK(final_total(pg.target(), other) == 50);

  const auto v = bank_verdict(ops, w.expected_total(), total, pg.target(), opt);
  INFO(format_verdict(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(v.figures.at("bank_ok") == 1);
  CHECK(v.figures.at("bank_reads") == static_cast<double>(c.reads_ok));

  // The balances really moved.
  std::string err;
  PgConnPtr conn = pg_connect(pg.target(), 5s, &err);
  REQUIRE(conn);
  auto moved =
      pg_query_scalar(conn.get(), "SELECT count(*) FROM haverify_bank WHERE run_id = 11 AND balance <> 1000", 5s, &err);
  REQUIRE(moved);
  CHECK(std::stoi(*moved) > 0);

  // A tampered total is caught.
  const auto bad = bank_verdict(ops, w.expected_total() + 1, total, pg.target(), opt);
  CHECK(bad.status == CheckStatus::fail);
}

TEST_CASE("bank: an immediate stop mid-run and a restart never show a wrong total", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  BankOptions opt;
  opt.clients = 4;
  opt.run_id = 21;
  opt.connect_deadline = 500ms;
  opt.commit_deadline = 2000ms;
  opt.read_every = 3;
  BankWorkload::prepare(pg.target(), opt, 5s);

  History history;
  BankWorkload w(pg.target(), opt, history);
  w.start();
  std::this_thread::sleep_for(1s);
  const Nanos t_kill = mono_now_ns();
  REQUIRE(pg.stop_immediate());
  std::this_thread::sleep_for(1s);
  REQUIRE(pg.start());
  const Nanos t_ready = mono_now_ns();
  std::this_thread::sleep_for(1s);
  w.stop();

  const auto ops = history.snapshot();
  const BankCounts c = count_ops(ops, w.expected_total());
  for (const auto& p : c.problems) FAIL_CHECK(p);
  std::size_t reads_after = 0;
  for (const Op& op : ops) {
    if (op.f == op::fn::read && op.type == OpType::ok && op.mono_ns > t_ready) ++reads_after;
  }
  fmt::print(stderr,
             "[bank outage] transfers ok={} fail={} info={}; reads ok={} ({} after the restart); connect-fail ops={}\n",
             c.transfers_ok, c.transfers_fail, c.transfers_info, c.reads_ok, reads_after, c.connect_fails);
  CHECK(c.invokes == c.completions);
  CHECK(c.servers >= 1);
  CHECK(c.bad_reads == 0);
  CHECK(c.connect_fails >= 1);
  CHECK(reads_after > 5);
  CHECK(c.transfers_info <= 2u * static_cast<std::size_t>(opt.clients));
  for (const Op& op : ops) {
    if (op.f == op::fn::transfer && op.type == OpType::info) CHECK(op.mono_ns >= t_kill);
  }

  const std::int64_t total = final_total(pg.target(), opt);
  CHECK(total == w.expected_total());
  const auto v = bank_verdict(ops, w.expected_total(), total, pg.target(), opt);
  INFO(format_verdict(v));
  CHECK(v.status == CheckStatus::pass);
}
