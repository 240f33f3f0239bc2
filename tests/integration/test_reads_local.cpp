// The reads workload and the read_your_writes checker against a throwaway
// local primary and its streaming standby (tag [pg]; LocalPg from
// local_pg.hpp). The planted defect: a standby that replays 300 ms late
// (recovery_min_apply_delay) as the read endpoint; the control reads where
// it writes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/check/read_your_writes.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/reads.hpp"
#include "local_pg.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;

namespace {

// One statement on `pg`; its first value ("" on failure).
std::string query(const LocalPg& pg, const std::string& sql) {
  std::string err;
  PgConnPtr c = pg_connect(pg.target(), 5s, &err);
  if (!c) return "";
  QueryOutcome o = pg_exec(c.get(), sql, 5s);
  if (!o.is_ok() || !o.result || PQntuples(o.result.get()) < 1) return "";
  return PQgetvalue(o.result.get(), 0, 0);
}

ReadsOptions options() {
  ReadsOptions o;
  o.clients = 3;
  o.foreign_every = 2;
  o.reread_for = 2s;
  o.run_id = 7;
  o.table = "rw_local";
  return o;
}

// Runs the workload for `d` and judges it.
CheckerVerdict run_reads(const PgTarget& write, const PgTarget& read, History& h, std::chrono::milliseconds d) {
  ReadsWorkload w(write, read, options(), h);
  w.prepare(10s);
  // The table must exist where the reads go (a delayed standby replays its creation late too).
  const auto until = std::chrono::steady_clock::now() + 15s;
  std::string err;
  PgConnPtr rc = pg_connect(read, 5s, &err);
  REQUIRE(rc);
  while (std::chrono::steady_clock::now() < until) {
    QueryOutcome o = pg_exec(rc.get(), "select to_regclass('rw_local') is not null", 5s);
    if (o.is_ok() && std::string(PQgetvalue(o.result.get(), 0, 0)) == "t") break;
    std::this_thread::sleep_for(50ms);
  }
  w.start();
  std::this_thread::sleep_for(d);
  w.stop();
  return ReadYourWritesChecker().check(h.snapshot(), {});
}

}  // namespace

TEST_CASE("reads: a standby that replays 300 ms late serves stale reads, read_your_writes fails, per node",
          "[pg][integration]") {
  LocalPg primary;
  REQUIRE_LOCAL_PG(primary);
  REQUIRE(primary.settings_in_files());
  LocalPg standby(primary, "node2");
  REQUIRE_LOCAL_PG(standby);
  REQUIRE(query(standby, "alter system set recovery_min_apply_delay = '300ms'").empty());
  REQUIRE(query(standby, "select pg_reload_conf()") == "t");
  REQUIRE(query(standby, "show recovery_min_apply_delay") == "300ms");

  History h;
  const CheckerVerdict v = run_reads(primary.target(), standby.target(), h, 3s);
  INFO(format_verdict(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(v.figures.at("reads_ok") > 0);
  CHECK(v.figures.at("reads_stale") > 0);
  CHECK(v.figures.at("reads_stale_foreign") > 0);
  // Seen only once the standby applied it: at least the planted delay after the ack, less the
  // time from the commit on the primary to its ack (lower bound with a wide margin).
  CHECK(v.figures.at("read_staleness_ms") > 200);
  const std::string server = fmt::format("127.0.0.1:{}", standby.port());
  CHECK(std::any_of(v.reasons.begin(), v.reasons.end(),
                    [&](const std::string& r) { return r.rfind(server + ": ", 0) == 0; }));
  // Every completed read was served by the standby; every write was acknowledged by the primary.
  std::size_t reads = 0, writes_ok = 0;
  for (const Op& op : h.snapshot()) {
    if (!op::is_reader(op) || op.type != OpType::ok) continue;
    if (op.f == op::fn::write) ++writes_ok;
    if (op.f != op::fn::read) continue;
    ++reads;
    const auto j = nlohmann::json::parse(op.value);
    CHECK(j.at("port").get<int>() == standby.port());
    CHECK(j.at("since_ack_ms").get<double>() >= 0);
  }
  CHECK(static_cast<double>(reads) == v.figures.at("reads_ok"));
  CHECK(writes_ok > 0);
}

TEST_CASE("reads: reads on the connection that wrote see every row, read_your_writes passes", "[pg][integration]") {
  LocalPg primary;
  REQUIRE_LOCAL_PG(primary);
  History h;
  const CheckerVerdict v = run_reads(primary.target(), primary.target(), h, 2s);
  INFO(format_verdict(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(v.figures.at("reads_ok") > 100);
  CHECK(v.figures.at("reads_stale") == 0);
  CHECK(v.figures.at("reads_stale_foreign") == 0);
}
