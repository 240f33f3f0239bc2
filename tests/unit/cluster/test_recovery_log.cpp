// The recovery phases read from a PostgreSQL server log (cluster/recovery_log.hpp):
// redo_s and checkpoint_s of a crash recovery and of a promotion. The excerpts
// are real PostgreSQL 15.18 logs (log_line_prefix = '%m [%p] %q%u@%d ', as
// the lab's servers), from a throwaway server crashed with pg_ctl stop -m
// immediate and a standby promoted with pg_ctl promote.
#include <catch2/catch.hpp>

#include "haverify/cluster/recovery_log.hpp"

using namespace haverify;

namespace {

Nanos at(const std::string& stamp) {
  const auto t = parse_log_time(stamp, 0);
  REQUIRE(t);
  return *t;
}

RecoveryPhases parse(const std::string& log, const std::string& since) {
  return parse_recovery_log(timed_lines_since(log, at(since)), at(since));
}

// Crash recovery after `pg_ctl stop -m immediate` with 200000 rows in flight.
const std::string kCrash = R"(2026-12-06 18:51:43.962 UTC [4938] LOG:  received immediate shutdown request
2026-12-06 18:51:43.988 UTC [4938] LOG:  database system is shut down
2026-12-06 18:51:44.419 UTC [4957] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
2026-12-06 18:51:44.419 UTC [4957] LOG:  listening on IPv4 address "127.0.0.1", port 55432
2026-12-06 18:51:44.469 UTC [4960] LOG:  database system was interrupted; last known up at 2026-12-06 18:51:43 UTC
2026-12-06 18:51:47.660 UTC [4960] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-06 18:51:47.673 UTC [4960] LOG:  redo starts at 0/1500780
2026-12-06 18:51:47.814 UTC [4960] LOG:  invalid record length at 0/2154A18: wanted 24, got 0
2026-12-06 18:51:47.814 UTC [4960] LOG:  redo done at 0/2154880 system usage: CPU: user: 0.07 s, system: 0.00 s, elapsed: 0.14 s
2026-12-06 18:51:47.844 UTC [4958] LOG:  checkpoint starting: end-of-recovery immediate wait
2026-12-06 18:51:48.033 UTC [4958] LOG:  checkpoint complete: wrote 911 buffers (5.6%); 0 WAL file(s) added, 0 removed, 1 recycled; write=0.062 s, sync=0.091 s, total=0.194 s; sync files=22, longest=0.011 s, average=0.005 s; distance=12624 kB, estimate=12624 kB
2026-12-06 18:51:48.082 UTC [4957] LOG:  database system is ready to accept connections
)";

// A standby started from a base backup, its primary stopped (immediate),
// then promoted; the checkpoint after the promotion is a spread one.
const std::string kPromotion =
    R"(2026-12-06 18:52:16.335 UTC [5317] LOG:  database system was interrupted; last known up at 2026-12-06 18:52:11 UTC
2026-12-06 18:52:20.260 UTC [5317] LOG:  entering standby mode
2026-12-06 18:52:20.260 UTC [5317] LOG:  starting backup recovery with redo LSN 0/3000028, checkpoint LSN 0/3000060, on timeline ID 1
2026-12-06 18:52:20.288 UTC [5317] LOG:  redo starts at 0/3000028
2026-12-06 18:52:20.292 UTC [5317] LOG:  consistent recovery state reached at 0/3000100
2026-12-06 18:52:20.296 UTC [5314] LOG:  database system is ready to accept read-only connections
2026-12-06 18:52:20.403 UTC [5321] LOG:  started streaming WAL from primary at 0/4000000 on timeline 1
2026-12-06 18:52:22.703 UTC [5321] FATAL:  could not receive data from WAL stream: server closed the connection unexpectedly
		This probably means the server terminated abnormally
		before or while processing the request.
2026-12-06 18:52:22.708 UTC [5317] LOG:  invalid record length at 0/4621068: wanted 24, got 0
2026-12-06 18:52:22.780 UTC [5317] LOG:  waiting for WAL to become available at 0/4621080
2026-12-06 18:52:23.288 UTC [5317] LOG:  received promote request
2026-12-06 18:52:23.288 UTC [5317] LOG:  redo done at 0/4621040 system usage: CPU: user: 0.03 s, system: 0.03 s, elapsed: 3.00 s
2026-12-06 18:52:23.288 UTC [5317] LOG:  last completed transaction was at log time 2026-12-06 18:52:21.982425+00
2026-12-06 18:52:23.300 UTC [5317] LOG:  selected new timeline ID: 2
2026-12-06 18:52:23.392 UTC [5317] LOG:  archive recovery complete
2026-12-06 18:52:23.414 UTC [5315] LOG:  checkpoint starting: force
2026-12-06 18:52:23.477 UTC [5314] LOG:  database system is ready to accept connections
2026-12-06 18:53:08.480 UTC [5315] LOG:  checkpoint complete: wrote 448 buffers (2.7%); 0 WAL file(s) added, 0 removed, 1 recycled; write=44.833 s, sync=0.172 s, total=45.067 s; sync files=4, longest=0.148 s, average=0.043 s; distance=22660 kB, estimate=22660 kB
2026-12-06 18:55:46.104 UTC [5315] LOG:  checkpoint starting: shutdown immediate
2026-12-06 18:55:46.127 UTC [5315] LOG:  checkpoint complete: wrote 0 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.007 s, sync=0.001 s, total=0.035 s; sync files=0, longest=0.000 s, average=0.000 s; distance=0 kB, estimate=20394 kB
)";

// Crash recovery right after a CHECKPOINT with wal_level = minimal: no WAL to replay.
const std::string kNoRedo = R"(2026-12-06 18:52:02.438 UTC [5242] LOG:  checkpoint starting: immediate force wait
2026-12-06 18:52:02.506 UTC [5242] LOG:  checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.022 s, sync=0.011 s, total=0.069 s; sync files=2, longest=0.007 s, average=0.006 s; distance=0 kB, estimate=0 kB
2026-12-06 18:52:02.657 UTC [5241] LOG:  received immediate shutdown request
2026-12-06 18:52:03.224 UTC [5266] LOG:  database system was interrupted; last known up at 2026-12-06 18:52:02 UTC
2026-12-06 18:52:05.304 UTC [5266] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-06 18:52:05.317 UTC [5266] LOG:  invalid record length at 0/2154CE0: wanted 24, got 0
2026-12-06 18:52:05.317 UTC [5266] LOG:  redo is not required
2026-12-06 18:52:05.349 UTC [5264] LOG:  checkpoint starting: end-of-recovery immediate wait
2026-12-06 18:52:05.408 UTC [5264] LOG:  checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.011 s, sync=0.010 s, total=0.073 s; sync files=2, longest=0.006 s, average=0.005 s; distance=0 kB, estimate=0 kB
2026-12-06 18:52:05.463 UTC [5263] LOG:  database system is ready to accept connections
)";

}  // namespace

TEST_CASE("recovery log: crash recovery with its end-of-recovery checkpoint", "[unit]") {
  const RecoveryPhases p = parse(kCrash, "2026-12-06 18:51:43.900 UTC");
  CHECK(p.kind == "crash recovery");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == Approx(0.14));  // the redo done line's elapsed figure, not 0.141 from the stamps
  REQUIRE(p.checkpoint_s);
  CHECK(*p.checkpoint_s == Approx(0.194));
  CHECK(p.checkpoint_kind == "end-of-recovery immediate wait");
  REQUIRE(p.evidence.size() == 5);
  CHECK(p.evidence[0].find("not properly shut down") != std::string::npos);
  CHECK(p.evidence[1].find("redo starts at 0/1500780") != std::string::npos);
  CHECK(p.evidence[4].find("total=0.194 s") != std::string::npos);
}

TEST_CASE("recovery log: a redo done line without elapsed is timed by its stamps", "[unit]") {
  const std::string log =
      R"(2026-12-06 18:51:47.660 UTC [4960] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-06 18:51:47.673 UTC [4960] LOG:  redo starts at 0/1500780
2026-12-06 18:51:49.173 UTC [4960] LOG:  redo done at 0/2154880
)";
  const RecoveryPhases p = parse(log, "2026-12-06 18:51:40 UTC");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == Approx(1.5));
  CHECK_FALSE(p.checkpoint_s);
}

TEST_CASE("recovery log: promotion, redo from the request, the first checkpoint after it", "[unit]") {
  const RecoveryPhases p = parse(kPromotion, "2026-12-06 18:52:22.600 UTC");
  CHECK(p.kind == "promotion");
  REQUIRE(p.redo_s);
  // From the request to redo done (same ms here), not the 3.00 s elapsed of
  // the standby's whole replay that the redo done line carries.
  CHECK(*p.redo_s == Approx(0.0));
  REQUIRE(p.checkpoint_s);
  CHECK(*p.checkpoint_s == Approx(45.067));  // the spread checkpoint, not the later shutdown one
  CHECK(p.checkpoint_kind == "force");
  REQUIRE(p.evidence.size() == 4);
  CHECK(p.evidence[0].find("received promote request") != std::string::npos);
}

TEST_CASE("recovery log: promotion with WAL still to replay, by the trigger file", "[unit]") {
  const std::string log = R"(2026-12-06 18:52:23.100 UTC [5317] LOG:  promote trigger file found: /tmp/promote
2026-12-06 18:52:24.350 UTC [5317] LOG:  redo done at 0/4621040 system usage: CPU: user: 0.03 s, system: 0.03 s, elapsed: 9.00 s
)";
  const RecoveryPhases p = parse(log, "2026-12-06 18:52:22 UTC");
  CHECK(p.kind == "promotion");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == Approx(1.25));
}

TEST_CASE("recovery log: redo is not required is a redo of 0 s", "[unit]") {
  const RecoveryPhases p = parse(kNoRedo, "2026-12-06 18:52:02.600 UTC");
  CHECK(p.kind == "crash recovery");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == 0.0);
  REQUIRE(p.checkpoint_s);
  CHECK(*p.checkpoint_s == Approx(0.073));  // not the 0.069 of the CHECKPOINT before the crash
  CHECK(p.checkpoint_kind == "end-of-recovery immediate wait");
}

TEST_CASE("recovery log: lines stamped before the fault are ignored", "[unit]") {
  // The crash recovery happened before the fault: nothing to report.
  RecoveryPhases p = parse(kCrash, "2026-12-06 18:51:48.050 UTC");
  CHECK(p.kind.empty());
  CHECK_FALSE(p.redo_s);
  CHECK_FALSE(p.checkpoint_s);
  CHECK(p.evidence.empty());
  REQUIRE_FALSE(p.notes.empty());
  CHECK(p.notes[0].find("no recovery in the log") != std::string::npos);
  // An earlier crash recovery, then the promotion after the fault: the promotion.
  p = parse(kCrash + kPromotion, "2026-12-06 18:52:22.600 UTC");
  CHECK(p.kind == "promotion");
  // The standby's own start (redo starts at, before the fault and after it) is no recovery.
  p = parse(kPromotion, "2026-12-06 18:52:16 UTC");
  CHECK(p.kind == "promotion");
  CHECK(p.evidence[0].find("received promote request") != std::string::npos);
}

TEST_CASE("recovery log: a log cut before the checkpoint completed leaves checkpoint_s empty", "[unit]") {
  const std::string cut = kPromotion.substr(0, kPromotion.find("2026-12-06 18:53:08.480"));
  const RecoveryPhases p = parse(cut, "2026-12-06 18:52:22.600 UTC");
  CHECK(p.kind == "promotion");
  CHECK(p.redo_s);
  CHECK_FALSE(p.checkpoint_s);
  CHECK(p.checkpoint_kind == "force");
  CHECK(p.notes.back().find("checkpoint_s empty") != std::string::npos);
  // Cut before the redo ended: both empty.
  const std::string early = kCrash.substr(0, kCrash.find("2026-12-06 18:51:47.814"));
  const RecoveryPhases q = parse(early, "2026-12-06 18:51:43.900 UTC");
  CHECK(q.kind == "crash recovery");
  CHECK_FALSE(q.redo_s);
  CHECK_FALSE(q.checkpoint_s);
  // The server crashed again before its checkpoint completed.
  const std::string again = kCrash.substr(0, kCrash.find("2026-12-06 18:51:48.033")) +
                            kNoRedo.substr(kNoRedo.find("2026-12-06 18:52:02.657"));
  const RecoveryPhases r = parse(again, "2026-12-06 18:51:43.900 UTC");
  CHECK(r.redo_s);
  CHECK_FALSE(r.checkpoint_s);
  CHECK(r.checkpoint_kind == "end-of-recovery immediate wait");
  CHECK(r.notes.back().find("began another recovery at 2026-12-06") != std::string::npos);
}

TEST_CASE("recovery log: garbage and other severities are no evidence", "[unit]") {
  const std::string log =
      "\x01\x02 binary\n"
      "not a log line: redo done at 0/1\n"
      "2026-12-06 18:52:23.000 UTC [1] STATEMENT:  select 'received promote request'\n"
      "2026-12-06 18:52:23.001 UTC [1] ERROR:  redo done at nothing\n"
      "2026-13-45 99:99:99.000 UTC [1] LOG:  received promote request\n"
      "\t\tcontinuation line\n"
      "2026-12-06 18:52:23.288 UTC [5317] LOG:  received promote request\n";
  RecoveryPhases p = parse(log, "2026-12-06 18:52:22 UTC");
  CHECK(p.kind == "promotion");  // the last line only (the month-13 line has no valid stamp)
  REQUIRE(p.evidence.size() == 1);
  CHECK(p.evidence[0] == "2026-12-06 18:52:23.288 UTC [5317] LOG:  received promote request");
  CHECK_FALSE(p.redo_s);
  p = parse(std::string("\0\0\0", 3) + "\n\n" + std::string(10000, 'x'), "2026-12-06 18:52:22 UTC");
  CHECK(p.kind.empty());
  CHECK_FALSE(p.redo_s);
  CHECK_FALSE(p.checkpoint_s);
}

TEST_CASE("recovery log: where the server log is", "[unit]") {
  NodeSpec n;
  n.postgres.data_dir = "/var/lib/postgresql/15/main";
  n.postgres.bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pre = server_log_prelude(n);
  CHECK(pre.find("/var/lib/postgresql/15/main'/PG_VERSION") != std::string::npos);
  CHECK(pre.find("|| v='15'") != std::string::npos);
  CHECK(pre.find("/var/log/postgresql/postgresql-$v-main.log") != std::string::npos);
  n.postgres.log_file = "/srv/pg/server log";
  CHECK(server_log_prelude(n) == "log='/srv/pg/server log'; ");
}

TEST_CASE("recovery log: a recovery cut by a restart, and a promotion asked twice", "[unit]") {
  const std::string restarted =
      R"(2026-12-06 18:51:47.660 UTC [4960] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-06 18:51:47.673 UTC [4960] LOG:  redo starts at 0/1500780
2026-12-06 18:51:50.000 UTC [4990] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-06 18:51:50.010 UTC [4990] LOG:  redo starts at 0/1500780
2026-12-06 18:51:50.910 UTC [4990] LOG:  redo done at 0/2154880 system usage: CPU: user: 0.07 s, system: 0.00 s, elapsed: 0.90 s
)";
  RecoveryPhases p = parse(restarted, "2026-12-06 18:51:40 UTC");
  CHECK(p.kind == "crash recovery");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == Approx(0.9));  // the recovery that ended
  CHECK(p.evidence[0].find("18:51:50.000") != std::string::npos);
  CHECK(p.notes[0].find("did not end") != std::string::npos);

  const std::string twice = R"(2026-12-06 18:52:23.000 UTC [5317] LOG:  received promote request
2026-12-06 18:52:23.500 UTC [5317] LOG:  received promote request
2026-12-06 18:52:24.000 UTC [5317] LOG:  redo done at 0/4621040 system usage: CPU: user: 0.03 s, system: 0.03 s, elapsed: 3.00 s
)";
  p = parse(twice, "2026-12-06 18:52:22 UTC");
  REQUIRE(p.redo_s);
  CHECK(*p.redo_s == Approx(1.0));  // from the first request
}
