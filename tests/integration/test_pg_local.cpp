// Integration tests for haverify/pg.hpp and the ledger workload against a
// throwaway local PostgreSQL 15 (initdb + pg_ctl into a temp dir, loopback
// only). Run with the tag [pg]. Needs the server binaries (default
// /usr/lib/postgresql/15/bin, override with HAVERIFY_PG_BINDIR) and either
// root (the server then runs as user postgres through runuser) or a non-root
// user that may run initdb itself.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/ledger.hpp"
#include "local_pg.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

PgConnPtr must_connect(const PgTarget& t) {
  std::string err;
  PgConnPtr c = pg_connect(t, 5s, &err);
  INFO(err);
  REQUIRE(c);
  return c;
}

struct PairCheck {
  std::size_t invokes = 0, oks = 0, fails = 0, infos = 0, connect_fails = 0;
  std::vector<std::string> problems;
};

// Every client's write ops must be invoke, completion(same value), invoke, ...
// with no invoke left open, and every id invoked once.
PairCheck check_pairs(const std::vector<Op>& ops) {
  PairCheck pc;
  std::map<std::string, const Op*> open;  // process -> pending invoke
  std::set<std::string> seen_ids;
  for (const Op& op : ops) {
    if (op.f == op::fn::connect) {
      ++pc.connect_fails;
      if (op.type != OpType::fail) pc.problems.push_back("connect op that is not fail");
      continue;
    }
    if (op.f != op::fn::write) continue;
    auto it = open.find(op.process);
    if (op.type == OpType::invoke) {
      if (it != open.end() && it->second) {
        pc.problems.push_back(op.process + ": invoke while another is open");
      }
      open[op.process] = &op;
      ++pc.invokes;
      if (!seen_ids.insert(op.value).second) pc.problems.push_back("id invoked twice: " + op.value);
      continue;
    }
    if (it == open.end() || !it->second) {
      pc.problems.push_back(op.process + ": completion without invoke");
      continue;
    }
    if (it->second->value != op.value) pc.problems.push_back(op.process + ": value mismatch");
    if (op.mono_ns < it->second->mono_ns) pc.problems.push_back(op.process + ": time went back");
    it->second = nullptr;
    if (op.type == OpType::ok) ++pc.oks;
    if (op.type == OpType::fail) ++pc.fails;
    if (op.type == OpType::info) ++pc.infos;
  }
  for (const auto& [proc, inv] : open) {
    if (inv) pc.problems.push_back(proc + ": invoke left open");
  }
  return pc;
}

std::vector<std::int64_t> ok_ids(const std::vector<Op>& ops, OpType type = OpType::ok) {
  std::vector<std::int64_t> ids;
  for (const Op& op : ops) {
    if (op.f == op::fn::write && op.type == type) ids.push_back(std::stoll(op.value));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// The acknowledged ledger ids as a History sink sees them (the way the
// runner's passes see them: every op once, as appended), sorted.
class AckedIdsSink final : public HistorySink {
 public:
  void on_op(const Op& op) override {
    if (op::is_ledger_write(op) && op.type == OpType::ok) ids_.push_back(std::stoll(op.value));
  }
  // Read after the workload stopped (no more appends).
  std::vector<std::int64_t> ids() const {
    auto v = ids_;
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  std::vector<std::int64_t> ids_;
};

}  // namespace

TEST_CASE("pg: connect, exec, helpers and real error classification", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  PgConnPtr c = must_connect(pg.target());
  CHECK(pg_conn_usable(c.get()));

  std::string err;
  auto one = pg_query_scalar(c.get(), "SELECT 1", 2s, &err);
  REQUIRE(one);
  CHECK(*one == "1");
  CHECK(err.empty());

  auto app = pg_query_scalar(c.get(), "SHOW application_name", 2s, &err);
  REQUIRE(app);
  CHECK(*app == "haverify");

  bool saw_null = false;
  auto rows = pg_query_rows(c.get(), "SELECT 'a', NULL::text UNION ALL SELECT 'b', 'c'", 2s, &err, &saw_null);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0] == std::vector<std::string>{"a", ""});
  CHECK(rows[1] == std::vector<std::string>{"b", "c"});
  CHECK(saw_null);

  CHECK_FALSE(pg_query_scalar(c.get(), "SELECT NULL", 2s, &err));
  CHECK_FALSE(err.empty());

  // Multi-statement: the last result is kept.
  QueryOutcome m = pg_exec(c.get(), "SELECT 1; SELECT 2", 2s);
  REQUIRE(m.is_ok());
  CHECK(std::string(PQgetvalue(m.result.get(), 0, 0)) == "2");

  REQUIRE(pg_exec(c.get(), "CREATE TEMP TABLE t(id int primary key)", 2s).is_ok());
  REQUIRE(pg_exec(c.get(), "INSERT INTO t VALUES (1)", 2s).is_ok());

  QueryOutcome dup = pg_exec(c.get(), "INSERT INTO t VALUES (1)", 2s);
  CHECK(dup.kind == QueryOutcome::failed);
  CHECK(dup.sqlstate == "23505");
  CHECK_FALSE(dup.connection_lost);
  CHECK(dup.error.find("duplicate key") != std::string::npos);

  QueryOutcome syn = pg_exec(c.get(), "INSERT INTO", 2s);
  CHECK(syn.kind == QueryOutcome::failed);
  CHECK(syn.sqlstate == "42601");

  // Temp tables stay writable in a read-only transaction: use a real one.
  REQUIRE(pg_exec(c.get(), "CREATE TABLE ro_t(id int)", 2s).is_ok());
  REQUIRE(pg_exec(c.get(), "SET default_transaction_read_only = on", 2s).is_ok());
  QueryOutcome ro = pg_exec(c.get(), "INSERT INTO ro_t VALUES (2)", 2s);
  CHECK(ro.kind == QueryOutcome::failed);
  CHECK(ro.sqlstate == "25006");
  CHECK(pg_conn_usable(c.get()));
  REQUIRE(pg_exec(c.get(), "SET default_transaction_read_only = off", 2s).is_ok());

  // Notices are collected, not printed.
  QueryOutcome warn = pg_exec(c.get(), "DO $$BEGIN RAISE WARNING 'careful %', 1; RAISE NOTICE 'fyi'; END$$", 2s);
  REQUIRE(warn.is_ok());
  CHECK(warn.notices == std::vector<std::string>{"WARNING: careful 1", "NOTICE: fyi"});

  // An error in the middle of a multi-statement string ends it.
  QueryOutcome mid = pg_exec(c.get(), "SELECT 1; SELECT 1/0; SELECT 3", 2s);
  CHECK(mid.kind == QueryOutcome::failed);
  CHECK(mid.sqlstate == "22012");

  // The server ends our session: 57P01 + EOF -> unknown, connection lost.
  QueryOutcome term = pg_exec(c.get(), "SELECT pg_terminate_backend(pg_backend_pid())", 2s);
  INFO(term.error);
  CHECK(term.kind == QueryOutcome::unknown);
  CHECK(term.connection_lost);
  CHECK_FALSE(pg_conn_usable(c.get()));

  // A dead connection: nothing can be sent -> failed, not unknown.
  QueryOutcome after = pg_exec(c.get(), "SELECT 1", 2s);
  CHECK(after.kind == QueryOutcome::failed);
  CHECK_FALSE(after.sent);
  CHECK(after.connection_lost);
}

TEST_CASE("pg: exec deadline is enforced, reported unknown, and the query is canceled", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  PgConnPtr c = must_connect(pg.target());
  PgConnPtr watcher = must_connect(pg.target());

  const auto t0 = Clock::now();
  QueryOutcome o = pg_exec(c.get(), "SELECT pg_sleep(30) /* haverify-deadline-test */", 200ms);
  const double took = ms_since(t0);
  CHECK(o.kind == QueryOutcome::unknown);
  CHECK(o.connection_lost);
  CHECK(o.error == "client deadline 200ms passed");
  CHECK(took >= 195.0);
  CHECK(took < 200.0 + 300.0);
  CHECK_FALSE(pg_conn_usable(c.get()));
  c.reset();

  // The sleeping backend must go away (cancel and/or socket shutdown).
  std::string err;
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    auto n = pg_query_scalar(watcher.get(),
                             "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                             "query LIKE '%haverify-deadline-test%' AND pid <> pg_backend_pid()",
                             2s, &err);
    REQUIRE(n);
    gone = *n == "0";
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  CHECK(gone);
  for (int i = 0; i < 100 && pg_cancels_in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(pg_cancels_in_flight() == 0);
}

TEST_CASE("pg: connect deadline to a listener that never answers", "[pg]") {
  int port = 0;
  Fd silent = bind_loopback(&port, true);  // listens, never accepts
  REQUIRE(silent.get() >= 0);
  PgTarget t;
  t.host = "127.0.0.1";
  t.port = std::to_string(port);
  t.user = "postgres";
  t.dbname = "postgres";

  for (auto deadline : {150ms, 400ms}) {
    std::string err;
    const auto t0 = Clock::now();
    PgConnPtr c = pg_connect(t, deadline, &err);
    const double took = ms_since(t0);
    INFO(err << " after " << took << " ms");
    CHECK_FALSE(c);
    CHECK(err.find("connect deadline") != std::string::npos);
    CHECK(took >= static_cast<double>(deadline.count()) - 5.0);
    CHECK(took < static_cast<double>(deadline.count()) + 500.0);
  }
}

TEST_CASE("pg: refused connect fails fast, a host list falls through to a live host", "[pg]") {
  const int closed = free_port();
  PgTarget t;
  t.host = "127.0.0.1";
  t.port = std::to_string(closed);
  t.user = "postgres";
  t.dbname = "postgres";
  std::string err;
  auto t0 = Clock::now();
  CHECK_FALSE(pg_connect(t, 2s, &err));
  CHECK(ms_since(t0) < 500.0);
  CHECK_FALSE(err.empty());

  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  PgTarget list = pg.target();
  list.host = "127.0.0.1,127.0.0.1";
  list.port = fmt::format("{},{}", closed, pg.port());
  list.extra = "target_session_attrs=read-write";
  t0 = Clock::now();
  PgConnPtr c = pg_connect(list, 2s, &err);
  INFO(err);
  REQUIRE(c);
  CHECK(std::string(PQport(c.get())) == std::to_string(pg.port()));
  CHECK(ms_since(t0) < 1000.0);
}

TEST_CASE("ledger: 4 clients for 2 s, every ack is in the table", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  LedgerOptions opt;
  opt.clients = 4;
  opt.run_id = 7;
  LedgerWorkload::prepare(pg.target(), opt, 5s);

  History history;
  AckedIdsSink acked_sink;
  history.add_sink(&acked_sink);
  const auto t0 = Clock::now();
  {
    LedgerWorkload w(pg.target(), opt, history);
    w.start();
    std::this_thread::sleep_for(2s);
    const auto t_stop = Clock::now();
    w.stop();
    const double stop_ms = ms_since(t_stop);
    const double secs = ms_since(t0) / 1000.0;
    fmt::print(stderr, "[ledger] {} acked in {:.2f} s = {:.0f} writes/s (4 clients); stop took {:.1f} ms\n", w.acked(),
               secs, static_cast<double>(w.acked()) / secs, stop_ms);
    CHECK(w.acked() > 100);
    CHECK(stop_ms < 3000.0 + 1000.0);

    const auto ops = history.snapshot();
    const PairCheck pc = check_pairs(ops);
    for (const auto& p : pc.problems) FAIL_CHECK(p);
    CHECK(pc.oks == static_cast<std::size_t>(w.acked()));
    CHECK(pc.invokes == pc.oks + pc.fails + pc.infos);
    CHECK(pc.fails == 0);
    CHECK(pc.infos == 0);
    CHECK(acked_sink.ids() == ok_ids(ops));
    CHECK(acked_sink.ids().size() == static_cast<std::size_t>(w.acked()));
    for (const Op& op : ops) {
      if (op.f == op::fn::write) CHECK(op.node == pg.target().describe());
    }

    PgConnPtr c = must_connect(pg.target());
    std::string err;
    const auto in_table = ledger_read_ids(c.get(), opt.table, opt.run_id, 5s, &err);
    INFO(err);
    REQUIRE(err.empty());
    CHECK(std::adjacent_find(in_table.begin(), in_table.end()) == in_table.end());
    const auto acked = acked_sink.ids();
    CHECK(std::includes(in_table.begin(), in_table.end(), acked.begin(), acked.end()));
    CHECK(in_table.size() == acked.size());  // no in-doubt writes in a calm run
    for (auto id : in_table) {
      CHECK(id / 1'000'000'000 == opt.run_id);
    }
    // Another run id sees none of these.
    CHECK(ledger_read_ids(c.get(), opt.table, 8, 5s, &err).empty());
    // A table that does not exist: the node answered, and holds none of the rows.
    bool missing = false;
    CHECK(ledger_read_ids(c.get(), "haverify_no_such_table", opt.run_id, 5s, &err, &missing).empty());
    CHECK(missing);
    CHECK_FALSE(err.empty());
    CHECK(ledger_read_ids(c.get(), opt.table, opt.run_id, 5s, &err, &missing).size() == in_table.size());
    CHECK_FALSE(missing);
  }
}

TEST_CASE("ledger: immediate stop mid-run gives info (never fail), and recovers", "[pg]") {
  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  LedgerOptions opt;
  opt.clients = 4;
  opt.run_id = 42;
  opt.connect_deadline = 500ms;
  opt.commit_deadline = 2000ms;
  LedgerWorkload::prepare(pg.target(), opt, 5s);

  History history;
  AckedIdsSink acked_sink;
  history.add_sink(&acked_sink);
  LedgerWorkload w(pg.target(), opt, history);
  w.start();
  std::this_thread::sleep_for(1s);

  const Nanos t_kill = mono_now_ns();
  REQUIRE(pg.stop_immediate());
  const Nanos t_killed = mono_now_ns();
  std::this_thread::sleep_for(1s);
  const Nanos t_restart = mono_now_ns();
  REQUIRE(pg.start());
  const Nanos t_ready = mono_now_ns();
  std::this_thread::sleep_for(1s);
  w.stop();

  const auto ops = history.snapshot();
  const PairCheck pc = check_pairs(ops);
  for (const auto& p : pc.problems) FAIL_CHECK(p);
  CHECK(pc.invokes == pc.oks + pc.fails + pc.infos);
  CHECK(pc.fails == 0);  // in-flight writes are in doubt, never failed
  CHECK(pc.infos >= 1);  // at least one write was in flight at the kill
  CHECK(pc.infos <= 2u * static_cast<std::size_t>(opt.clients));
  CHECK(pc.connect_fails >= 1);
  // Rate limit: at most ~one connect failure per 100 ms per client while down.
  const double down_s = ns_to_s(t_ready - t_kill);
  CHECK(static_cast<double>(pc.connect_fails) <= opt.clients * (down_s * 10.0 + 2.0));

  for (const Op& op : ops) {
    if (op.f == op::fn::write && op.type == OpType::info) {
      CHECK(op.mono_ns >= t_kill);
      CHECK(!op.error.empty());
    }
  }

  // Writes succeed again after the restart.
  Nanos last_info = 0;
  for (const Op& op : ops) {
    if (op.f == op::fn::write && op.type == OpType::info) last_info = std::max(last_info, op.mono_ns);
  }
  Nanos first_ok_after = 0, last_ok_before = 0, max_gap = 0, prev_ok = 0;
  std::size_t oks_after = 0;
  for (const Op& op : ops) {
    if (op.f != op::fn::write || op.type != OpType::ok) continue;
    if (op.mono_ns <= t_kill) last_ok_before = op.mono_ns;
    if (op.mono_ns >= t_restart) {
      ++oks_after;
      if (!first_ok_after) first_ok_after = op.mono_ns;
    }
    if (prev_ok) max_gap = std::max(max_gap, op.mono_ns - prev_ok);
    prev_ok = op.mono_ns;
  }
  CHECK(oks_after > 10);
  REQUIRE(first_ok_after > 0);
  REQUIRE(last_ok_before > 0);
  fmt::print(stderr,
             "[outage] pg_ctl stop -m immediate took {:.0f} ms; last ok {:.1f} ms before the "
             "stop was issued; last in-flight write reported info {:.1f} ms after it; "
             "pg_ctl start -w took {:.0f} ms; first ok {:.1f} ms after start was issued; "
             "longest gap between oks {:.0f} ms (server kept down {:.0f} ms); info={} "
             "connect-fail ops={} acked={}\n",
             (t_killed - t_kill) / 1e6, (t_kill - last_ok_before) / 1e6, (last_info - t_kill) / 1e6,
             (t_ready - t_restart) / 1e6, (first_ok_after - t_restart) / 1e6, max_gap / 1e6, (t_restart - t_kill) / 1e6,
             pc.infos, pc.connect_fails, w.acked());

  // No acknowledged write is missing; no failed write is present.
  PgConnPtr c = must_connect(pg.target());
  std::string err;
  const auto in_table = ledger_read_ids(c.get(), opt.table, opt.run_id, 5s, &err);
  INFO(err);
  REQUIRE(err.empty());
  const auto acked = ok_ids(ops);
  CHECK(acked == acked_sink.ids());
  CHECK(acked.size() == static_cast<std::size_t>(w.acked()));
  std::vector<std::int64_t> missing;
  std::set_difference(acked.begin(), acked.end(), in_table.begin(), in_table.end(), std::back_inserter(missing));
  CHECK(missing.empty());
  const auto infos = ok_ids(ops, OpType::info);
  std::vector<std::int64_t> unexpected;  // in the table but neither ok nor info
  std::vector<std::int64_t> known = acked;
  known.insert(known.end(), infos.begin(), infos.end());
  std::sort(known.begin(), known.end());
  std::set_difference(in_table.begin(), in_table.end(), known.begin(), known.end(), std::back_inserter(unexpected));
  CHECK(unexpected.empty());
  std::size_t infos_committed = 0;
  for (auto id : infos) infos_committed += std::binary_search(in_table.begin(), in_table.end(), id);
  fmt::print(stderr, "[outage] {} of {} in-doubt writes turned out committed\n", infos_committed, infos.size());
}
