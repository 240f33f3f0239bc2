#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "checker_fixtures.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"

using namespace haverify;
using namespace haverify::testing;

// ---------------------------------------------------------------------------
// Bank

namespace {

// Transfers with ids 1 (ok), 2 (info), 3 (fail), 4 (never completed), and reads.
Hist bank_history() {
  Hist h;
  h.transfer(0, "1,2,30,1", 0);
  h.bank_read(0, "10000", 10);
  h.transfer(1, "3,4,5,2", 20, OpType::info);
  h.transfer(1, "3,5,5,3", 30, OpType::fail);
  h.add("bank-2", OpType::invoke, "transfer", "1,0,7,4", 40);  // never completed
  h.bank_read(1, "10000", 50);
  h.add("bank-3", OpType::invoke, "read", "", 60);
  h.add("bank-3", OpType::info, "read", "", 61, "", "connection lost");  // not an ok read
  return h;
}

// The primary's transfer log: `applied` ids, balances matching them unless `off`.
FinalState bank_final(std::vector<std::int64_t> applied, std::int64_t off = 0) {
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 10000;
  FinalState::BankLog log;
  log.applied_ids = std::move(applied);
  log.mismatched_accounts = off;
  if (off) log.mismatches = {"account 1: balance 970, the log says 1000", "account 2: balance 1030, the log says 1000"};
  f.bank_log = log;
  return f;
}

}  // namespace

TEST_CASE("bank: reads and final total equal to the expected total pass", "[unit]") {
  Hist h = bank_history();
  // The unknown transfer 2 may or may not be applied: either way is fine.
  const FinalState f = bank_final({1, 2});
  const auto v = run_checker(BankChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.checker == "bank");
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "bank_reads") == 2);
  CHECK(fig(v, "bank_bad_reads") == 0);
  CHECK(fig(v, "bank_ok") == 1);
  CHECK(fig(v, "bank_transfers_ok") == 1);
  CHECK(fig(v, "bank_transfers_failed") == 1);
  CHECK(fig(v, "bank_transfers_unknown") == 2);
  CHECK(fig(v, "bank_transfers_lost") == 0);
  CHECK(run_checker(BankChecker(), h.ops, bank_final({1})).status == CheckStatus::pass);
}

TEST_CASE("bank: each transfer is held against the primary's transfer log, not only the total", "[unit]") {
  // Issue 13, "Why" 8: a lost acknowledged transfer keeps the total.
  Hist h = bank_history();
  auto v = run_checker(BankChecker(), h.ops, bank_final({2}));
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_transfers_lost") == 1);
  CHECK(has_reason(v, "1 acknowledged transfers are not applied on the primary (not in its transfer log): ids 1"));

  v = run_checker(BankChecker(), h.ops, bank_final({1, 3}));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_failed_applied") == 1);
  CHECK(has_reason(v, "1 failed transfers were applied anyway: ids 3"));

  v = run_checker(BankChecker(), h.ops, bank_final({1}, 2));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_balance_mismatches") == 2);
  CHECK(has_reason(v, "2 account balances do not match the applied transfers: account 1: balance 970"));

  // Without the log, the total alone is no evidence for the transfers: unknown.
  FinalState f = bank_final({1});
  f.bank_log.reset();
  v = run_checker(BankChecker(), h.ops, f);
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "the transfer log was not read from the primary"));
  // Transfers without an id (an older history) cannot be checked one by one.
  Hist old;
  old.transfer(0, "1,2,30", 0);
  v = run_checker(BankChecker(), old.ops, bank_final({}));
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "1 transfers carry no id"));
}

TEST_CASE("bank: a bad read fails naming its value and time", "[unit]") {
  Hist h;
  h.bank_read(0, "10000", 10);
  h.bank_read(1, "9970", 1234);
  h.bank_read(2, "garbage", 1500);
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 10000;
  const auto v = run_checker(BankChecker(), h.ops, f);
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_reads") == 3);
  CHECK(fig(v, "bank_bad_reads") == 2);
  CHECK(fig(v, "bank_ok") == 0);
  CHECK(has_reason(v, "2 of 3 reads saw a total other than 10000"));
  CHECK(has_reason(v, fmt::format("bank-1 read '9970' at {} (t=1.225 s)", format_wall_ns(kWall0 + 1235 * kMs))));
  CHECK(has_reason(v, "read 'garbage'"));
}

TEST_CASE("bank: a bad final total fails, no final total is unknown", "[unit]") {
  Hist h;
  h.bank_read(0, "10000", 10);
  FinalState f;
  f.bank_expected_total = 10000;
  f.bank_total = 9999;
  auto v = run_checker(BankChecker(), h.ops, f);
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "bank_ok") == 0);
  CHECK(has_reason(v, "final total 9999 (expected 10000)"));

  f.bank_total.reset();
  v = run_checker(BankChecker(), h.ops, f);
  CHECK(v.status == CheckStatus::unknown);
  CHECK(v.figures.count("bank_ok") == 0);
  CHECK(has_reason(v, "the final bank total was not read"));

  v = run_checker(BankChecker(), std::vector<Op>{}, f);
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "no bank workload"));

  // A bad read fails even without a final total.
  h.bank_read(0, "1", 20);
  CHECK(run_checker(BankChecker(), h.ops, f).status == CheckStatus::fail);
}
