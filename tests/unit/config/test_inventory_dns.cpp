// The DNS endpoint (endpoint kind dns) and host names in an inventory, and
// the pure parts of io/dns (address literals, names, server addresses).
#include <catch2/catch.hpp>

#include "config_issues.hpp"

#include <string>
#include <vector>

#include "haverify/cluster/probe.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/io/dns.hpp"

using namespace haverify;
using haverify::testing::inventory_issues;

namespace {

// Line 9 is the endpoint's, so an error in it is reported at 9:col.
std::string inventory_with(const std::string& endpoint, const std::string& pg_host = "198.18.0.11") {
  return R"(name: t
stack: pgpool
ssh: {user: root, key: /k, known_hosts: /kh}
nodes:
  - name: node1
    ssh: {host: 198.18.0.11}
    postgres: {host: )" +
         pg_host + R"(}
    power: {controller: command, off: 'true', on: 'true', verify: none}
endpoint: )" +
         endpoint +
         R"(
driver: {type: generic}
)";
}

// The one issue of `text`, as "line:col key: message" is printed.
ConfigIssue one_issue(const std::string& text) {
  const auto issues = inventory_issues(text);
  INFO(text);
  for (const auto& i : issues) UNSCOPED_INFO(i.str());
  REQUIRE(issues.size() == 1);
  return issues[0];
}

// A two-node pgpool inventory with `endpoint`; its driver block is open for a watchdog: line.
std::string watchdog_inventory(const std::string& endpoint, const std::string& pcp_host) {
  return R"(name: t
stack: pgpool-wd
ssh: {user: root, key: /k, known_hosts: /kh}
nodes:
  - {name: node1, ssh: {host: 198.18.0.11}, postgres: {host: 198.18.0.11}, power: {controller: command, off: 'true', on: 'true', verify: none}}
  - {name: node2, ssh: {host: 198.18.0.12}, postgres: {host: 198.18.0.12}, power: {controller: command, off: 'true', on: 'true', verify: none}}
endpoint: )" +
         endpoint + R"(
driver:
  type: pgpool
  pcp_host: )" +
         pcp_host + R"(
  pcp_user: pcpadmin
)";
}

}  // namespace

TEST_CASE("inventory: a dns endpoint reads its name, port and server", "[unit]") {
  const auto inv = parse_inventory(
      inventory_with("{kind: dns, name: db.example.test, port: 5432, server: 198.18.1.53, user: app}"), "inv.yaml");
  CHECK(inv.endpoint.kind == "dns");
  CHECK(inv.endpoint.host == "db.example.test");
  CHECK(inv.endpoint.port == "5432");
  CHECK(inv.endpoint.dns_server == "198.18.1.53");
  CHECK(inv.endpoint.user == "app");
  const PgTarget t = endpoint_target(inv);
  CHECK(t.host == "db.example.test");
  CHECK(t.dns_server == "198.18.1.53");
  CHECK(t.hostaddr.empty());  // pg_connect resolves the name itself

  const auto loopback = parse_inventory(inventory_with("{kind: dns, name: db.test., server: '127.0.0.1:5353'}"), "i");
  CHECK(loopback.endpoint.dns_server == "127.0.0.1:5353");
  CHECK(parse_inventory(inventory_with("{kind: dns, name: db.test, server: '[::1]:5353'}"), "i").endpoint.dns_server ==
        "[::1]:5353");
  // No server: the system resolver.
  CHECK(parse_inventory(inventory_with("{kind: dns, name: db.test}"), "i").endpoint.dns_server.empty());
}

TEST_CASE("inventory: a bad dns endpoint is reported with file:line:col and the key", "[unit]") {
  struct Case {
    std::string endpoint, key, message;
  };
  const std::vector<Case> cases = {
      {"{kind: dns, port: 5432}", "endpoint.name", "required"},
      {"{kind: dns, name: 'db..test'}", "endpoint.name", "not a DNS name"},
      {"{kind: dns, name: '198.18.1.10'}", "endpoint.name", "not a DNS name"},
      {"{kind: dns, name: '-db.test'}", "endpoint.name", "not a DNS name"},
      {"{kind: dns, name: db.test, host: 198.18.1.10}", "endpoint.host", "takes `name`"},
      {"{kind: dns, name: db.test, port: '5432,5433'}", "endpoint.port", "one port"},
      {"{kind: dns, name: db.test, server: ns.example.test}", "endpoint.server", "not an IP address"},
      {"{kind: dns, name: db.test, server: '127.0.0.1:0'}", "endpoint.server", "not a UDP port"},
      {"{kind: dns, name: db.test, server: '127.0.0.1:70000'}", "endpoint.server", "not a UDP port"},
      {"{kind: dns, name: db.test, server: '[::1'}", "endpoint.server", "without ']'"},
      {"{kind: dns, name: db.test, server: 198.18.1.53, ttl: 5}", "endpoint.ttl", ""},
      {"{kind: pgpool, host: 198.18.1.10, server: 198.18.1.53}", "endpoint.server", "only for kind dns"},
      {"{kind: vip, host: 198.18.1.10, name: db.test}", "endpoint.name", "only for kind dns"},
      {"{kind: pgpool, host: 'db_1.test'}", "endpoint.host", "neither an IP address"},
      {"{kind: hostlist, host: 'a.test,b test', port: 5432}", "endpoint.host", "neither an IP address"},
      {"{kind: srv, host: db.test}", "endpoint.kind", "pgpool, vip, hostlist or dns"},
  };
  for (const auto& c : cases) {
    const ConfigIssue i = one_issue(inventory_with(c.endpoint));
    INFO(c.endpoint << " -> " << i.str());
    CHECK(i.file == "inv.yaml");
    CHECK(i.line == 9);
    CHECK(i.col >= 11);  // at the endpoint's mapping (a missing key) or inside it
    CHECK(i.key == c.key);
    CHECK(i.message.find(c.message) != std::string::npos);
  }
}

TEST_CASE("inventory: a read_endpoint is read like the endpoint, reads use it, writes do not", "[unit]") {
  const std::string base = inventory_with("{kind: vip, host: 198.18.1.100, port: 9999}");
  CHECK_FALSE(parse_inventory(base, "inv.yaml").read_endpoint);
  CHECK(read_endpoint_target(parse_inventory(base, "inv.yaml")).host == "198.18.1.100");
  const auto inv = parse_inventory(
      base + "read_endpoint: {kind: hostlist, host: '198.18.1.12,198.18.1.13', port: 5432}\n", "inv.yaml");
  REQUIRE(inv.read_endpoint);
  CHECK(inv.read_endpoint->kind == "hostlist");
  CHECK(endpoint_target(inv).host == "198.18.1.100");
  const PgTarget r = read_endpoint_target(inv);
  CHECK(r.host == "198.18.1.12,198.18.1.13");
  CHECK(r.extra == "target_session_attrs=any");  // a read may go to any server of the list
  CHECK(endpoint_target(inv.endpoint, true).extra.empty());
  // Its errors name read_endpoint.<key> at line 11.
  const ConfigIssue i = one_issue(base + "read_endpoint: {kind: srv, host: 198.18.1.12}\n");
  CHECK(i.line == 11);
  CHECK(i.key == "read_endpoint.kind");
  CHECK(one_issue(base + "read_endpoint: [198.18.1.12]\n").key == "read_endpoint");
  CHECK_FALSE(parse_inventory(base + "read_endpoint:\n", "inv.yaml").read_endpoint);  // empty, as no block
  CHECK(one_issue(base + "read_endpoint: {host: 198.18.1.12, name: x.test}\n").key == "read_endpoint.name");
}

TEST_CASE("inventory: endpoint and node hosts given as names are accepted, a bad name is not", "[unit]") {
  const auto inv =
      parse_inventory(inventory_with("{kind: pgpool, host: pool.example.test, port: 9999}", "db1.test"), "inv.yaml");
  CHECK(inv.endpoint.host == "pool.example.test");
  CHECK(inv.nodes[0].postgres.host == "db1.test");
  CHECK(parse_inventory(inventory_with("{kind: hostlist, host: 'a.test,198.18.1.12,/run/pg', port: 5432}"), "i")
            .endpoint.host == "a.test,198.18.1.12,/run/pg");

  const ConfigIssue i = one_issue(inventory_with("{kind: pgpool, host: 198.18.1.10}", "'db 1.test'"));
  CHECK(i.key == "nodes[0].postgres.host");
  CHECK(i.line == 7);
  CHECK(i.message.find("neither an IP address") != std::string::npos);
}

TEST_CASE("dns: address literals, host names and DNS names", "[unit]") {
  CHECK(is_ip_literal("198.18.1.10"));
  CHECK(is_ip_literal("::1"));
  CHECK(is_ip_literal("fd00::53"));
  CHECK_FALSE(is_ip_literal("198.18.1"));
  CHECK_FALSE(is_ip_literal("db.test"));
  CHECK_FALSE(is_ip_literal(""));

  CHECK(is_host_name("db.example.test"));
  CHECK(is_host_name("localhost"));
  CHECK_FALSE(is_host_name(""));
  CHECK_FALSE(is_host_name("/var/run/postgresql"));
  CHECK_FALSE(is_host_name("@abstract"));
  CHECK_FALSE(is_host_name("127.0.0.1"));

  CHECK(valid_dns_name("db.example.test"));
  CHECK(valid_dns_name("db.example.test."));
  CHECK(valid_dns_name("a-1.b2"));
  CHECK(valid_dns_name(std::string(63, 'a') + ".test"));
  CHECK_FALSE(valid_dns_name(std::string(64, 'a') + ".test"));
  CHECK_FALSE(valid_dns_name(std::string(254, 'a')));
  CHECK_FALSE(valid_dns_name("db..test"));
  CHECK_FALSE(valid_dns_name(".db.test"));
  CHECK_FALSE(valid_dns_name("db-.test"));
  CHECK_FALSE(valid_dns_name("db_1.test"));
  CHECK_FALSE(valid_dns_name("10.0.0.1"));
  CHECK_FALSE(valid_dns_name("."));
  CHECK_FALSE(valid_dns_name(""));
}

TEST_CASE("dns: server addresses host[:port]", "[unit]") {
  std::string why;
  auto s = parse_dns_server("198.18.1.53", &why);
  REQUIRE(s);
  CHECK(s->address == "198.18.1.53");
  CHECK(s->port == 53);
  CHECK(s->str() == "198.18.1.53:53");
  s = parse_dns_server("127.0.0.1:5353", &why);
  REQUIRE(s);
  CHECK(s->port == 5353);
  s = parse_dns_server("::1", &why);
  REQUIRE(s);
  CHECK(s->address == "::1");
  CHECK(s->str() == "[::1]:53");
  s = parse_dns_server("[fd00::53]:5300", &why);
  REQUIRE(s);
  CHECK(s->address == "fd00::53");
  CHECK(s->port == 5300);
  for (const char* bad : {"", "ns1.test", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "[::1]x", "[::1]:", "[::1",
                          "127.0.0.1:53:53"}) {
    INFO(bad);
    why.clear();
    CHECK_FALSE(parse_dns_server(bad, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("dns: a bad name or server fails typed, without a network", "[unit]") {
  // An address literal needs no server: c-ares answers it itself.
  const DnsResult lit = dns_resolve("127.0.0.1", "127.0.0.1:1", std::chrono::milliseconds(500));
  REQUIRE(lit.ok());
  CHECK(lit.addresses == std::vector<std::string>{"127.0.0.1"});
  const DnsResult bad = dns_resolve("db.test", "ns.test", std::chrono::milliseconds(500));
  REQUIRE_FALSE(bad.ok());
  CHECK(*bad.failure == DnsFailure::error);
  CHECK(bad.error.rfind("dns: db.test: bad DNS server 'ns.test': ", 0) == 0);
}

TEST_CASE("inventory: driver.watchdog names the VIP and the pgpool nodes", "[unit]") {
  const std::string pg = watchdog_inventory("{kind: vip, host: 198.18.1.100, port: 9999}", "198.18.1.100");
  const auto all = parse_inventory(pg + "  watchdog: {vip: 198.18.1.100}\n", "wd.yaml");
  REQUIRE(all.driver.watchdog);
  CHECK(all.driver.watchdog->vip == "198.18.1.100");
  CHECK(all.driver.watchdog->nodes == std::vector<std::string>{"node1", "node2"});  // default: every node
  CHECK(parse_inventory(pg + "  watchdog: {vip: 198.18.1.100, nodes: [node2]}\n", "wd.yaml").driver.watchdog->nodes ==
        std::vector<std::string>{"node2"});
  CHECK_FALSE(parse_inventory(pg, "wd.yaml").driver.watchdog);
  const auto issue = [&](const std::string& extra) { return one_issue(pg + extra); };
  CHECK(issue("  watchdog: {vip: vip.example.test}\n").key == "driver.watchdog.vip");
  CHECK(issue("  watchdog: {vip: '::1'}\n").key == "driver.watchdog.vip");
  CHECK(issue("  watchdog: {nodes: [node1]}\n").key == "driver.watchdog.vip");
  CHECK(issue("  watchdog: {vip: 198.18.1.100, nodes: [node9]}\n").message.find("not a node") != std::string::npos);
  CHECK(issue("  watchdog: {vip: 198.18.1.100, nodes: [node1, node1]}\n").message.find("twice") != std::string::npos);
  CHECK(issue("  watchdog: {vip: 198.18.1.100, nodes: []}\n").key == "driver.watchdog.nodes");
  CHECK(issue("  watchdog: {vip: 198.18.1.100, leader: node1}\n").key == "driver.watchdog.leader");
}

TEST_CASE("inventory: a watchdog behind a DNS endpoint needs no VIP (its leader is where the name points)", "[unit]") {
  const std::string pg =
      watchdog_inventory("{kind: dns, name: db.lab.test, server: 198.18.1.53, port: 9999}", "db.lab.test");
  const auto inv = parse_inventory(pg + "  watchdog: {nodes: [node1, node2]}\n", "wd.yaml");
  REQUIRE(inv.driver.watchdog);
  CHECK(inv.driver.watchdog->vip.empty());
  // A VIP may still be named (a DNS name in front of a delegate IP).
  CHECK(parse_inventory(pg + "  watchdog: {vip: 198.18.1.100}\n", "wd.yaml").driver.watchdog->vip == "198.18.1.100");
  CHECK(one_issue(pg + "  watchdog: {vip: db.lab.test}\n").key == "driver.watchdog.vip");
}
