#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// fast-cpp-csv-parser is a third-party header: keep -Werror for our code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-truncation"
#include <libfccp/csv.h>
#pragma GCC diagnostic pop

#include "haverify/io/csv.hpp"
#include "reports/results.hpp"
#include "reports/stream.hpp"
#include "test_files.hpp"

using namespace haverify;
using namespace haverify::reports;

using haverify::testing::slurp;
using haverify::testing::tmpfile;

TEST_CASE("CSV fields are quoted per RFC 4180", "[unit]") {
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("") == "");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("line1\nline2") == "\"line1\nline2\"");
  CHECK(csv_field("cr\r") == "\"cr\r\"");
  CHECK(csv_line({"a", "b,c", ""}) == "a,\"b,c\",\r\n");
}

TEST_CASE("CSV written by CsvWriter reads back with fast-cpp-csv-parser", "[unit]") {
  const std::string path = tmpfile("roundtrip.csv");
  {
    CsvWriter w(path, {"name", "reason", "n"});
    w.row({"power-off", "failover_s = 3.2, within \"<= 10\"", "1"});
    w.row({"x", "", "2"});
    CHECK_THROWS_AS(w.row({"too", "few"}), std::logic_error);
  }
  io::CSVReader<3, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(path);
  in.read_header(io::ignore_no_column, "name", "reason", "n");
  std::string name, reason;
  int n = 0;
  REQUIRE(in.read_row(name, reason, n));
  CHECK(name == "power-off");
  CHECK(reason == "failover_s = 3.2, within \"<= 10\"");
  CHECK(n == 1);
  REQUIRE(in.read_row(name, reason, n));
  CHECK(name == "x");
  CHECK(reason.empty());
  CHECK_FALSE(in.read_row(name, reason, n));
}

TEST_CASE("results.csv has one row per run with the documented columns", "[unit]") {
  RunRow r;
  r.scenario = "power-off-primary";
  r.kind = "single-fault";
  r.stack = "pgpool";
  r.fault = "power_off";
  r.target = "primary->node1";
  r.seed = 42;
  r.metrics.failover_s = 3.4567;
  r.metrics.redo_s = 0.0;  // "redo is not required": 0, written; checkpoint_s unknown: empty
  r.metrics.lost_acked = 0;
  r.metrics.acked_total = 12345;
  r.verdict = "pass";
  r.reason = "all 4 checks passed";
  const std::string path = tmpfile("results.csv");
  write_results_csv(path, {r, r});
  const std::string text = slurp(path);
  const auto first = text.substr(0, text.find("\r\n"));
  CHECK(first.rfind("scenario,kind,stack,profile,disk,fault,target,seed,", 0) == 0);
  CHECK(first.find(",detect_s,promote_s,redo_s,checkpoint_s,failover_s,") != std::string::npos);
  CHECK(text.find("power-off-primary,single-fault,pgpool,,,power_off,primary->node1,42,1,,,,,,,,,0.000,,3.457,,0,0,0,"
                  "12345,,,,,,,pass,all 4 checks passed,") != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t p = 0; (p = text.find("\r\n", p)) != std::string::npos; p += 2) ++lines;
  CHECK(lines == 3);
}

TEST_CASE("junit.xml escapes and marks failures and errors", "[unit]") {
  RunRow ok, bad, err;
  ok.scenario = "a";
  ok.verdict = "pass";
  bad.scenario = "b<&>";
  bad.verdict = "fail";
  bad.reason = "lost_acked = 3 outside bound <= 0";
  err.scenario = "c";
  err.verdict = "error";
  err.reason = "ssh \"refused\"";
  const std::string path = tmpfile("junit.xml");
  write_junit_xml(path, "single-fault", {ok, bad, err});
  const std::string x = slurp(path);
  CHECK(x.find("tests=\"3\" failures=\"1\" errors=\"1\"") != std::string::npos);
  CHECK(x.find("name=\"b&lt;&amp;&gt; #1\"") != std::string::npos);
  CHECK(x.find("<failure message=\"lost_acked = 3 outside bound &lt;= 0\"") != std::string::npos);
  CHECK(x.find("<error message=\"ssh &quot;refused&quot;\"") != std::string::npos);
  CHECK(xml_escape(std::string("\x01")) == "&#1;");
}

TEST_CASE("operations.csv: one row per planned operation, and events.csv lists them", "[unit]") {
  const OperationRecord sw{.op = "switchover",
                           .node = "node2",
                           .outcome = "ok",
                           .detail = "node2; 8123 ms",
                           .start = Instant{3'500'000'000, 1'700'000'000'000'000'000},
                           .duration_s = 8.1234,
                           .stall_s = 5.5};
  const OperationRecord skipped{.op = "rebuild",
                                .node = "",
                                .outcome = "skipped",
                                .detail = "skipped: shared_disk",
                                .start = Instant{9'000'000'000, 1'700'000'005'500'000'000},
                                .duration_s = std::nullopt,
                                .stall_s = std::nullopt};
  const std::string path = tmpfile("operations.csv");
  write_operations_csv(path, {sw, skipped}, 1'000'000'000);
  const std::string text = slurp(path);
  CHECK(text.rfind("op,node,start,t_rel_s,duration_s,stall_s,outcome,detail\r\n", 0) == 0);
  CHECK(text.find(",2.500,8.123,5.500,ok,node2; 8123 ms\r\n") != std::string::npos);
  CHECK(text.find("rebuild,,") != std::string::npos);
  CHECK(text.find(",8.000,,,skipped,skipped: shared_disk\r\n") != std::string::npos);

  // The driver's operations (and skips) are on the timeline.
  const std::string events = tmpfile("events-driver.csv");
  {
    EventsCsvWriter w(events, 0);
    Op op;
    op.process = "driver";
    op.type = OpType::invoke;
    op.f = "stop_node";
    op.value = "node3";
    op.node = "node3";
    op.mono_ns = 1'000'000'000;
    w.on_op(op);
    op.process = "client-1";
    op.f = "write";
    w.on_op(op);
    w.close();
  }
  const std::string ev = slurp(events);
  CHECK(ev.find(",driver,invoke,stop_node,node3,node3,") != std::string::npos);
  CHECK(ev.find("client-1") == std::string::npos);
}

TEST_CASE("history.jsonl lines are what nlohmann::json writes for the op, escapes and bad bytes included", "[unit]") {
  // The reference: the op as a json object (sorted keys), dumped with bytes
  // that are not UTF-8 replaced, as history_json_line wrote it before.
  auto reference = [](const Op& op) {
    nlohmann::json j = {{"index", op.index},          {"process", op.process},
                        {"type", to_string(op.type)}, {"f", op.f},
                        {"value", op.value},          {"node", op.node},
                        {"mono_ns", op.mono_ns},      {"wall", format_wall_ns(op.wall_ns)}};
    if (!op.error.empty()) j["error"] = op.error;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  Op op;
  op.index = 12345;
  op.process = "client-3";
  op.type = OpType::ok;
  op.f = "write";
  op.value = "1732190000000000042";
  op.node = "198.18.1.10:9999/postgres";
  op.mono_ns = 987654321012;
  op.wall_ns = 1'700'000'000'123'000'000;
  CHECK(history_json_line(op) == reference(op));
  const std::vector<std::string> tricky = {"",
                                           "quote \" and backslash \\",
                                           "tab\tnewline\nreturn\rbell\x07 del\x7f",
                                           "bad byte \xff and cut \xc3",
                                           "UTF-8 é ✓",
                                           R"({"in_recovery":false,"timeline":3})"};
  for (const auto& t : tricky) {
    Op o = op;
    o.type = OpType::info;
    o.error = t;
    o.value = t;
    o.node = t;
    o.index = -1;
    o.mono_ns = -5;
    o.wall_ns = op.wall_ns + static_cast<Nanos>(&t - &tricky[0]) * 333'333'333;  // the seconds part changes
    INFO(t);
    CHECK(history_json_line(o) == reference(o));
  }
  for (const Nanos wall : {Nanos{0}, Nanos{999'999'999}, Nanos{-1'500'000'000}}) {
    Op o = op;
    o.wall_ns = wall;
    CHECK(history_json_line(o) == reference(o));
  }
  std::string appended = "x";
  append_history_json_line(appended, op);
  CHECK(appended == "x" + reference(op));
}
