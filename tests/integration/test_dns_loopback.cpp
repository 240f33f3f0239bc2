// A DNS endpoint resolved by haverify itself (io/dns, pg_connect) against a
// tiny DNS server on 127.0.0.1 (local_dns.hpp) and a throwaway PostgreSQL
// listening on 127.0.0.1 and 127.0.0.2: the name resolves and a connect
// goes through it; a server that stops answering fails the connect within
// its deadline, as a dns failure; a changed answer moves the next
// connection to the new address, and the History records each answer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/dns.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/workload/ledger.hpp"
#include "local_dns.hpp"
#include "local_pg.hpp"

using namespace haverify;
using namespace haverify::testing;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kName = "db.haverify.test";

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

PgTarget name_target(const LocalPg& pg, const LocalDns& dns) {
  PgTarget t = pg.target();
  t.host = kName;
  t.dns_server = dns.server();
  return t;
}

// The address the server saw this connection arrive at.
std::string server_addr(PGconn* c) {
  std::string err;
  const auto v = pg_query_scalar(c, "SELECT host(inet_server_addr())", 2s, &err);
  INFO(err);
  REQUIRE(v);
  return *v;
}

}  // namespace

TEST_CASE("dns: a name resolves through the server, and a connect reaches PostgreSQL through it", "[integration]") {
  LocalDns dns;
  REQUIRE(dns.ready());
  dns.set(kName, {"127.0.0.1"}, 7);
  const DnsResult r = dns_resolve(kName, dns.server(), 2s);
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.addresses == std::vector<std::string>{"127.0.0.1"});
  CHECK(r.ttl == 7s);
  CHECK(r.servers == dns.server());

  const DnsResult missing = dns_resolve("nope.haverify.test", dns.server(), 2s);
  REQUIRE_FALSE(missing.ok());
  CHECK(*missing.failure == DnsFailure::nxdomain);
  CHECK(missing.error == fmt::format("dns: nope.haverify.test: no such name (NXDOMAIN from {})", dns.server()));
  dns.mode(LocalDns::Mode::servfail);
  const DnsResult servfail = dns_resolve(kName, dns.server(), 2s);
  REQUIRE_FALSE(servfail.ok());
  CHECK(*servfail.failure == DnsFailure::server_failure);
  dns.mode(LocalDns::Mode::answer);

  LocalPg pg;
  REQUIRE_LOCAL_PG(pg);
  PgConnectReport report;
  PgConnPtr c = pg_connect(name_target(pg, dns), 3s, report);
  INFO(report.error);
  REQUIRE(c);
  CHECK(std::string(PQhost(c.get())) == kName);  // the name is kept for TLS and identity
  CHECK(std::string(PQhostaddr(c.get())) == "127.0.0.1");
  REQUIRE(report.resolutions.size() == 1);
  CHECK(report.resolutions[0].used == "127.0.0.1");
  CHECK(server_addr(c.get()) == "127.0.0.1");

  PgTarget with_addr = name_target(pg, dns);
  with_addr.hostaddr = "127.0.0.1";
  CHECK(with_addr.conninfo().find("host='db.haverify.test' hostaddr='127.0.0.1' port=") != std::string::npos);
}

TEST_CASE("dns: a server that stops answering fails the connect within its deadline, as a dns failure",
          "[integration]") {
  LocalDns dns;
  REQUIRE(dns.ready());
  dns.set(kName, {"127.0.0.1"});
  dns.mode(LocalDns::Mode::silent);
  PgTarget t;  // no server behind it: the connect must fail in DNS, before any TCP
  t.host = kName;
  t.port = std::to_string(free_port());
  t.dns_server = dns.server();
  for (auto deadline : {300ms, 1500ms}) {
    PgConnectReport report;
    const auto t0 = Clock::now();
    PgConnPtr c = pg_connect(t, deadline, report);
    const double took = ms_since(t0);
    INFO(report.error << " after " << took << " ms");
    CHECK_FALSE(c);
    CHECK(report.failure == PgConnectReport::Failure::dns);
    CHECK(report.error ==
          fmt::format("dns: {}: no answer from {} within {} ms", kName, dns.server(), deadline.count()));
    CHECK(took >= static_cast<double>(deadline.count()) - 5.0);
    CHECK(took < static_cast<double>(deadline.count()) + 250.0);
  }
  CHECK(dns.queries() > 2);  // asked again within the deadline, not once

  // A refused connect to a resolved name is a connect failure, not a dns one.
  dns.mode(LocalDns::Mode::answer);
  PgConnectReport report;
  CHECK_FALSE(pg_connect(t, 1s, report));
  CHECK(report.failure == PgConnectReport::Failure::connect);
  CHECK(report.error.rfind("dns:", 0) == std::string::npos);
}

TEST_CASE("dns: a changed answer moves the next connection to the new address", "[integration]") {
  LocalDns dns;
  REQUIRE(dns.ready());
  LocalPg pg("127.0.0.1,127.0.0.2");
  REQUIRE_LOCAL_PG(pg);
  const PgTarget t = name_target(pg, dns);
  dns.set(kName, {"127.0.0.1"});
  std::string err;
  PgConnPtr a = pg_connect(t, 3s, &err);
  INFO(err);
  REQUIRE(a);
  CHECK(server_addr(a.get()) == "127.0.0.1");
  dns.set(kName, {"127.0.0.2"}, 1);
  PgConnPtr b = pg_connect(t, 3s, &err);
  REQUIRE(b);
  CHECK(server_addr(b.get()) == "127.0.0.2");
  CHECK(std::string(PQhostaddr(b.get())) == "127.0.0.2");
  // Two addresses: the first that answers takes the connection.
  dns.set(kName, {"127.0.0.3", "127.0.0.2"}, 1);
  PgConnectReport report;
  PgConnPtr c = pg_connect(t, 3s, report);
  INFO(report.error);
  REQUIRE(c);
  REQUIRE(report.resolutions.size() == 1);
  CHECK(report.resolutions[0].dns.addresses == std::vector<std::string>{"127.0.0.3", "127.0.0.2"});
  CHECK(report.resolutions[0].used == "127.0.0.2");
}

namespace {

// Ends every client connection but `admin`'s own (the ledger clients reconnect).
void terminate_clients(PGconn* admin) {
  std::string err;
  pg_query_rows(admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()",
                3s, &err);
  INFO(err);
  REQUIRE(err.empty());
}

// The ops of `process` from index `from` on.
std::vector<Op> ops_of(const std::vector<Op>& ops, const std::string& process, std::int64_t from) {
  std::vector<Op> out;
  for (const Op& o : ops)
    if (o.process == process && o.index >= from) out.push_back(o);
  return out;
}

}  // namespace

TEST_CASE("dns: ledger clients record each answer, follow a changed one, and fail in dns when it stops",
          "[integration]") {
  LocalDns dns;
  REQUIRE(dns.ready());
  LocalPg pg("127.0.0.1,127.0.0.2");
  REQUIRE_LOCAL_PG(pg);
  dns.set(kName, {"127.0.0.1"});
  LedgerOptions opt;
  opt.clients = 2;
  opt.run_id = 5;
  opt.connect_deadline = 400ms;
  opt.retry_backoff = 20ms;
  const PgTarget t = name_target(pg, dns);
  LedgerWorkload::prepare(t, opt, 5s);
  std::string err;
  PgConnPtr admin = pg_connect(pg.target(), 3s, &err);
  REQUIRE(admin);

  History history;
  std::int64_t moved_at = 0, silent_at = 0;
  {
    LedgerWorkload w(t, opt, history);
    w.start();
    std::this_thread::sleep_for(500ms);
    dns.set(kName, {"127.0.0.2"});
    moved_at = static_cast<std::int64_t>(history.size());
    terminate_clients(admin.get());
    std::this_thread::sleep_for(700ms);
    dns.mode(LocalDns::Mode::silent);
    silent_at = static_cast<std::int64_t>(history.size());
    terminate_clients(admin.get());
    std::this_thread::sleep_for(1000ms);
    w.stop();
  }
  const auto ops = history.snapshot();
  for (int i = 0; i < opt.clients; ++i) {
    const std::string process = fmt::format("{}{}", op::proc::ledger_client_prefix, i);
    INFO(process);
    // Before the move: the first connection's answer names 127.0.0.1.
    const auto first = ops_of(ops, process, 0);
    const auto first_dns = std::find_if(first.begin(), first.end(), [](const Op& o) { return o.f == op::fn::dns; });
    REQUIRE(first_dns != first.end());
    CHECK(nlohmann::json::parse(first_dns->value)["addrs"] == nlohmann::json::array({"127.0.0.1"}));
    // After it: the new answer, the connection that reached it, and its writes' server.
    bool answer = false, connection = false, server = false, acked = false;
    for (const Op& o : ops_of(ops, process, moved_at)) {
      if (o.index >= silent_at) break;
      if (o.f == op::fn::dns && o.type == OpType::ok) {
        const auto j = nlohmann::json::parse(o.value);
        CHECK(j["addrs"] == nlohmann::json::array({"127.0.0.2"}));
        CHECK(j["server"] == dns.server());
        (j.contains("addr") ? connection : answer) = true;
        if (j.contains("addr")) CHECK(j["addr"] == "127.0.0.2");
      }
      if (o.f == op::fn::server) {
        CHECK(nlohmann::json::parse(o.value)["addr"] == "127.0.0.2");
        server = true;
      }
      acked = acked || (o.f == op::fn::write && o.type == OpType::ok && server);
    }
    CHECK(answer);
    CHECK(connection);
    CHECK(server);
    CHECK(acked);
    // Silent: the answer's end is recorded once, and the connects fail in dns, within their deadline.
    int dns_fails = 0, connect_fails = 0;
    const std::string prefix = fmt::format("dns: {}: no answer from {} within 400 ms", kName, dns.server());
    for (const Op& o : ops_of(ops, process, silent_at)) {
      if (o.f == op::fn::dns) {
        CHECK(o.type == OpType::fail);
        CHECK(o.error == prefix);
        ++dns_fails;
      }
      if (o.f == op::fn::connect) {
        CHECK(o.error.rfind(prefix, 0) == 0);
        ++connect_fails;
      }
    }
    CHECK(dns_fails == 1);
    CHECK(connect_fails >= 1);
  }
}
