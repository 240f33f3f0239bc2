// Unit tests for the pure parts of haverify/pg.hpp: failure classification and
// conninfo building. No server needed.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <map>
#include <string>

#include "haverify/io/pg.hpp"

using haverify::classify_failure;
using haverify::conninfo_quote;
using haverify::PgTarget;
using haverify::QueryOutcome;

namespace {

// Parses a conninfo string with libpq itself and returns keyword -> value for
// the keywords that were set.
std::map<std::string, std::string> parse_conninfo(const std::string& ci, std::string* error) {
  std::map<std::string, std::string> out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(ci.c_str(), &err);
  if (!opts) {
    if (error) *error = err ? err : "parse failed";
    PQfreemem(err);
    return out;
  }
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (o->val) out[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

}  // namespace

TEST_CASE("classify_failure: nothing sent is always failed", "[unit]") {
  CHECK(classify_failure("", false, false) == QueryOutcome::failed);
  CHECK(classify_failure("", true, false) == QueryOutcome::failed);
  CHECK(classify_failure("08006", true, false) == QueryOutcome::failed);
  CHECK(classify_failure("57P01", true, false) == QueryOutcome::failed);
}

TEST_CASE("classify_failure: a lost connection or deadline is unknown", "[unit]") {
  // Even a definite-looking code does not win over a lost connection.
  CHECK(classify_failure("", true, true) == QueryOutcome::unknown);
  CHECK(classify_failure("23505", true, true) == QueryOutcome::unknown);
  CHECK(classify_failure("25006", true, true) == QueryOutcome::unknown);
  CHECK(classify_failure("57P01", true, true) == QueryOutcome::unknown);
}

TEST_CASE("classify_failure: table of SQLSTATEs for a sent write", "[unit]") {
  struct Row {
    const char* sqlstate;
    QueryOutcome::Kind kind;
    const char* why;
  };
  const Row rows[] = {
      // in doubt
      {"", QueryOutcome::unknown, "no sqlstate (libpq or pgpool message)"},
      {"08000", QueryOutcome::unknown, "connection exception"},
      {"08003", QueryOutcome::unknown, "connection does not exist"},
      {"08006", QueryOutcome::unknown, "connection failure"},
      {"08P01", QueryOutcome::unknown, "protocol violation"},
      {"57P01", QueryOutcome::unknown, "admin shutdown"},
      {"57P02", QueryOutcome::unknown, "crash shutdown"},
      {"57P03", QueryOutcome::unknown, "cannot connect now"},
      {"57014", QueryOutcome::unknown, "query canceled"},
      {"40003", QueryOutcome::unknown, "statement completion unknown"},
      {"XX000", QueryOutcome::unknown, "internal error"},
      {"XX001", QueryOutcome::unknown, "data corrupted"},
      {"58030", QueryOutcome::unknown, "io error"},
      {"HV000", QueryOutcome::unknown, "unlisted class"},
      {"1234", QueryOutcome::unknown, "malformed"},
      {"123456", QueryOutcome::unknown, "malformed"},
      // definite rejections
      {"23505", QueryOutcome::failed, "unique violation"},
      {"23502", QueryOutcome::failed, "not null violation"},
      {"25006", QueryOutcome::failed, "read-only transaction"},
      {"25P02", QueryOutcome::failed, "in failed transaction"},
      {"42601", QueryOutcome::failed, "syntax error"},
      {"42P01", QueryOutcome::failed, "undefined table"},
      {"42501", QueryOutcome::failed, "insufficient privilege"},
      {"40001", QueryOutcome::failed, "serialization failure"},
      {"40P01", QueryOutcome::failed, "deadlock"},
      {"40000", QueryOutcome::failed, "transaction rollback"},
      {"53100", QueryOutcome::failed, "disk full"},
      {"53200", QueryOutcome::failed, "out of memory"},
      {"53300", QueryOutcome::failed, "too many connections"},
      {"22003", QueryOutcome::failed, "numeric out of range"},
      {"22P02", QueryOutcome::failed, "invalid text representation"},
      {"0A000", QueryOutcome::failed, "feature not supported"},
      {"55P03", QueryOutcome::failed, "lock not available"},
      {"P0001", QueryOutcome::failed, "raise exception"},
  };
  for (const auto& r : rows) {
    INFO(r.sqlstate << " (" << r.why << ")");
    CHECK(classify_failure(r.sqlstate, false, true) == r.kind);
  }
}

TEST_CASE("to_string(QueryOutcome::Kind)", "[unit]") {
  CHECK(std::string(haverify::to_string(QueryOutcome::ok)) == "ok");
  CHECK(std::string(haverify::to_string(QueryOutcome::failed)) == "failed");
  CHECK(std::string(haverify::to_string(QueryOutcome::unknown)) == "unknown");
}

TEST_CASE("conninfo_quote escapes quotes and backslashes", "[unit]") {
  CHECK(conninfo_quote("") == "''");
  CHECK(conninfo_quote("abc") == "'abc'");
  CHECK(conninfo_quote("a b") == "'a b'");
  CHECK(conninfo_quote("it's") == "'it\\'s'");
  CHECK(conninfo_quote("C:\\x") == "'C:\\\\x'");
  CHECK(conninfo_quote("\\'") == "'\\\\\\''");
}

TEST_CASE("PgTarget::conninfo round-trips awkward values through libpq", "[unit]") {
  PgTarget t;
  t.host = "127.0.0.1";
  t.port = "5432";
  t.user = "o'brien";
  t.dbname = "my db";
  t.password = "p a\\ss'w=rd \"x\"";
  t.application_name = "haverify client-1";
  const std::string ci = t.conninfo(2500);

  std::string err;
  const auto kv = parse_conninfo(ci, &err);
  INFO(ci);
  REQUIRE(err.empty());
  CHECK(kv.at("host") == t.host);
  CHECK(kv.at("port") == t.port);
  CHECK(kv.at("user") == t.user);
  CHECK(kv.at("dbname") == t.dbname);
  CHECK(kv.at("password") == t.password);
  CHECK(kv.at("application_name") == t.application_name);
  CHECK(kv.at("tcp_user_timeout") == "2500");
  CHECK(kv.at("keepalives") == "1");
  CHECK(kv.at("keepalives_idle") == "1");
  CHECK(kv.at("keepalives_interval") == "1");
  CHECK(kv.at("keepalives_count") == "3");
  CHECK(kv.count("connect_timeout") == 0);
}

TEST_CASE("PgTarget::conninfo: defaults, empty fields and extra", "[unit]") {
  PgTarget t;
  t.host = "10.0.0.5";
  t.extra = "target_session_attrs=read-write";
  const std::string ci = t.conninfo();
  std::string err;
  const auto kv = parse_conninfo(ci, &err);
  INFO(ci);
  REQUIRE(err.empty());
  CHECK(kv.at("tcp_user_timeout") == "3000");
  CHECK(kv.at("target_session_attrs") == "read-write");
  CHECK(kv.at("application_name") == "haverify");
  CHECK(kv.count("user") == 0);
  CHECK(kv.count("password") == 0);
  CHECK(ci.find("password") == std::string::npos);
}

TEST_CASE("PgTarget: host lists", "[unit]") {
  PgTarget t;
  t.host = "10.0.0.1,10.0.0.2,10.0.0.3";
  t.port = "5432,5433,5434";
  t.dbname = "app";
  t.password = "secret";
  std::string err;
  const auto kv = parse_conninfo(t.conninfo(), &err);
  REQUIRE(err.empty());
  CHECK(kv.at("host") == "10.0.0.1,10.0.0.2,10.0.0.3");
  CHECK(kv.at("port") == "5432,5433,5434");
  CHECK(t.describe() == "10.0.0.1:5432,10.0.0.2:5433,10.0.0.3:5434/app");
  CHECK(t.describe().find("secret") == std::string::npos);

  t.port = "6432";
  CHECK(t.describe() == "10.0.0.1:6432,10.0.0.2:6432,10.0.0.3:6432/app");

  PgTarget local;
  CHECK(local.describe() == "local");
  local.host = "vip.example";
  CHECK(local.describe() == "vip.example");
}
