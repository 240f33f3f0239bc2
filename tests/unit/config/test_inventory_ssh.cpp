// The inventory's SSH settings for real clusters (issue 17): `become: sudo`
// per inventory and per node, and the command line it sends to a node.
#include <catch2/catch.hpp>

#include "config_issues.hpp"

#include <string>

#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

using namespace haverify;
using haverify::testing::inventory_issues;

namespace {

// Two nodes; `top` is the top-level ssh block's extra keys, `node2` node2's.
std::string inventory_with(const std::string& top, const std::string& node2 = "") {
  return "name: t\nstack: pgrex\nssh: {user: qa, key: /k, known_hosts: /kh" + top +
         "}\n"
         "nodes:\n"
         "  - {name: node1, ssh: {host: 198.18.0.11}, postgres: {host: 198.18.0.11}, power: {controller: command, off: "
         "'true', on: 'true'}}\n"
         "  - {name: node2, ssh: {host: 198.18.0.12" +
         node2 +
         "}, postgres: {host: 198.18.0.12}, power: {controller: command, off: 'true', on: 'true'}}\n"
         "endpoint: {kind: vip, host: 198.18.1.100}\n"
         "driver: {type: generic}\n";
}

}  // namespace

TEST_CASE("inventory: ssh.become sudo at the top level applies to every node, a node may turn it off", "[unit]") {
  INFO(inventory_with(", become: sudo", ", become: none"));
  const Inventory inv = parse_inventory(inventory_with(", become: sudo", ", become: none"), "inv.yaml");
  CHECK(inv.nodes[0].ssh.user == "qa");
  CHECK(inv.nodes[0].ssh.become == "sudo");
  CHECK(inv.nodes[1].ssh.become.empty());
  CHECK(parse_inventory(inventory_with(""), "inv.yaml").nodes[0].ssh.become.empty());
}

TEST_CASE("inventory: an unknown become method is an error at its place", "[unit]") {
  const auto issues = inventory_issues(inventory_with("", ", become: su"));
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].str().rfind("inv.yaml:6:", 0) == 0);
  CHECK(issues[0].str().find("nodes[1].ssh.become") != std::string::npos);
  CHECK(issues[0].str().find("must be sudo or none") != std::string::npos);
}

TEST_CASE("become: sudo wraps the whole command for /bin/sh, quoted, and only for a user that is not root", "[unit]") {
  SshTarget t;
  t.user = "qa";
  const std::string cmd = "ip link set svc0 down && echo 'it''s' \"$HOME\" | tee /tmp/x";
  CHECK(become_command(t, cmd) == cmd);
  CHECK_FALSE(uses_sudo(t));
  t.become = "sudo";
  CHECK(uses_sudo(t));
  CHECK(become_command(t, cmd) ==
        "sudo -n -- /bin/sh -c 'ip link set svc0 down && echo '\\''it'\\'''\\''s'\\'' \"$HOME\" | tee /tmp/x'");
  t.user = "root";
  CHECK(become_command(t, cmd) == cmd);
  CHECK_FALSE(uses_sudo(t));
}

TEST_CASE("inventory: passphrase_env names a variable, agent may replace the key", "[unit]") {
  const Inventory inv =
      parse_inventory(inventory_with(", passphrase_env: HAVERIFY_SSH_PASSPHRASE", ", agent: true"), "inv.yaml");
  CHECK(inv.nodes[0].ssh.passphrase_env == "HAVERIFY_SSH_PASSPHRASE");
  CHECK_FALSE(inv.nodes[0].ssh.agent);
  CHECK(inv.nodes[1].ssh.agent);
  // The passphrase itself where its variable's name belongs: refused, at its place.
  const auto issues = inventory_issues(inventory_with(", passphrase_env: 'correct horse'"));
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].str().rfind("inv.yaml:3:", 0) == 0);
  CHECK(issues[0].str().find("never the passphrase itself") != std::string::npos);
}
