// The inventory's SSH settings for real clusters (issue 17): `become: sudo`
// per inventory and per node, and the command line it sends to a node.
#include <catch2/catch.hpp>

#include "config_issues.hpp"

#include <fstream>
#include <string>

#include "../test_files.hpp"

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
         "'true', on: 'true', verify: none}}\n"
         "  - {name: node2, ssh: {host: 198.18.0.12" +
         node2 +
         "}, postgres: {host: 198.18.0.12}, power: {controller: command, off: 'true', on: 'true', verify: none}}\n"
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

TEST_CASE("inventory: ssh.config resolves host aliases, the inventory's own keys win, a ProxyJump becomes jump hosts",
          "[unit]") {
  const std::string cfg = haverify::testing::tmpfile("ssh_config");
  std::ofstream(cfg) << "Host db1\n  HostName 198.18.0.11\n  Port 2222\n  User admin\n  IdentityFile ~/.ssh/id_db\n"
                        "Host db2\n  HostName 198.18.0.12\n  Port 2200\n"
                        "Host viajump\n  HostName 198.18.0.13\n  ProxyJump bastion.example\n"
                        "Host twohop\n  HostName 198.18.0.15\n  ProxyJump ops@198.18.4.6:2200,bastion.example\n"
                        "Host viacommand\n  HostName 198.18.0.16\n  ProxyCommand nc %h %p\n"
                        "Host bastion.example\n  HostName 198.18.4.5\n  User jumper\n  Port 2022\n"
                        "  IdentityFile /keys/jump\n";
  const auto with = [&](const std::string& node2) {
    std::string y = "name: t\nstack: pgrex\nssh: {config: " + cfg +
                    ", known_hosts: /kh}\n"
                    "nodes:\n"
                    "  - {name: node1, ssh: {host: db1}, postgres: {host: 198.18.0.11}, power: {controller: command, "
                    "off: 'true', on: 'true', verify: none}}\n"
                    "  - {name: node2, ssh: {host: " +
                    node2 +
                    "}, postgres: {host: 198.18.0.12}, power: {controller: command, off: 'true', on: 'true', verify: "
                    "none}}\n"
                    "endpoint: {kind: vip, host: 198.18.1.100}\ndriver: {type: generic}\n";
    return y;
  };
  const Inventory inv = parse_inventory(with("db2, port: 22, user: qa, key: /k"), "inv.yaml");
  const SshTarget& a = inv.nodes[0].ssh;
  CHECK(a.host == "198.18.0.11");
  CHECK(a.port == 2222);
  CHECK(a.user == "admin");
  CHECK(a.key_file.ends_with("/.ssh/id_db"));
  CHECK(a.key_file.front() == '/');  // ~ expanded
  const SshTarget& b = inv.nodes[1].ssh;
  CHECK(b.host == "198.18.0.12");  // the alias resolved
  CHECK(b.port == 22);             // but the inventory's port, user and key win
  CHECK(b.user == "qa");
  CHECK(b.key_file == "/k");
  // A host the file does not name stays itself.
  CHECK(parse_inventory(with("198.18.0.14, key: /k"), "inv.yaml").nodes[1].ssh.host == "198.18.0.14");
  // ProxyJump: the hops, first to last, each resolved through the same file;
  // each takes the node's known_hosts, and its user and key unless the file
  // or the item names them.
  const SshTarget one = parse_inventory(with("viajump, user: qa, key: /k"), "inv.yaml").nodes[1].ssh;
  CHECK(one.host == "198.18.0.13");
  REQUIRE(one.jump.size() == 1);
  CHECK(one.jump[0].host == "198.18.4.5");
  CHECK(one.jump[0].port == 2022);
  CHECK(one.jump[0].user == "jumper");
  CHECK(one.jump[0].key_file == "/keys/jump");
  CHECK(one.jump[0].known_hosts == "/kh");
  const SshTarget two = parse_inventory(with("twohop, user: qa, key: /k"), "inv.yaml").nodes[1].ssh;
  REQUIRE(two.jump.size() == 2);
  CHECK(two.jump[0].host == "198.18.4.6");
  CHECK(two.jump[0].port == 2200);
  CHECK(two.jump[0].user == "ops");
  CHECK(two.jump[0].key_file == "/k");
  CHECK(two.jump[1].host == "198.18.4.5");
  CHECK(two.jump[1].user == "jumper");
  // The inventory's own ssh.jump wins over the file's.
  const SshTarget own =
      parse_inventory(with("viajump, user: qa, key: /k, jump: [{host: 198.18.4.9}]"), "inv.yaml").nodes[1].ssh;
  REQUIRE(own.jump.size() == 1);
  CHECK(own.jump[0].host == "198.18.4.9");
  // Any other ProxyCommand is refused: haverify never runs a command to reach a node.
  std::string issues;
  for (const auto& i : inventory_issues(with("viacommand, key: /k"))) issues += i.str() + "\n";
  CHECK_THAT(issues, Catch::Contains("nodes[1].ssh.host") && Catch::Contains("ProxyCommand") &&
                         Catch::Contains("never runs ssh(1)"));
  std::string missing;
  std::string y = with("db2");
  y.replace(y.find(cfg), cfg.size(), cfg + ".absent");
  for (const auto& i : inventory_issues(y)) missing += i.str() + "\n";
  CHECK_THAT(missing, Catch::Contains("nodes[0].ssh.config") && Catch::Contains("cannot be read"));
  // Never a device or a FIFO (libssh would read /dev/zero forever).
  std::string device;
  std::string z = with("db2");
  z.replace(z.find(cfg), cfg.size(), "/dev/zero");
  for (const auto& i : inventory_issues(z)) device += i.str() + "\n";
  CHECK_THAT(device, Catch::Contains("nodes[0].ssh.config") && Catch::Contains("not a regular file"));
}

TEST_CASE("inventory: ssh.jump lists the jump hosts, each taking what it leaves out from the node", "[unit]") {
  const std::string jump = ", jump: [{host: 198.18.4.5, user: bastion, key: /jk}, {host: 198.18.4.6, port: 2200}]";
  const Inventory inv = parse_inventory(inventory_with(jump + ", agent: true", ", jump: []"), "inv.yaml");
  const SshTarget& a = inv.nodes[0].ssh;
  REQUIRE(a.jump.size() == 2);
  CHECK(a.jump[0].host == "198.18.4.5");
  CHECK(a.jump[0].port == 22);
  CHECK(a.jump[0].user == "bastion");
  CHECK(a.jump[0].key_file == "/jk");
  CHECK(a.jump[0].known_hosts == "/kh");
  CHECK(a.jump[0].agent);
  CHECK(a.jump[1].host == "198.18.4.6");
  CHECK(a.jump[1].port == 2200);
  CHECK(a.jump[1].user == "qa");  // the node's user and key
  CHECK(a.jump[1].key_file == "/k");
  CHECK(a.jump[1].jump.empty());
  CHECK(inv.nodes[1].ssh.jump.empty());  // jump: [] -> direct
  // A become of the node is not a jump host's.
  const Inventory sudo = parse_inventory(inventory_with(jump + ", become: sudo"), "inv.yaml");
  CHECK(sudo.nodes[0].ssh.become == "sudo");
  CHECK(sudo.nodes[0].ssh.jump[0].become.empty());
}

TEST_CASE("inventory: a bad ssh.jump is an error at its place", "[unit]") {
  const auto one = [](const std::string& jump) {
    std::string all;
    for (const auto& i : inventory_issues(inventory_with("", ", jump: " + jump))) all += i.str() + "\n";
    return all;
  };
  CHECK_THAT(one("198.18.4.5"), Catch::Contains("inv.yaml:6:") && Catch::Contains("nodes[1].ssh.jump") &&
                                    Catch::Contains("a list of jump hosts"));
  CHECK_THAT(one("[{user: x}]"), Catch::Contains("nodes[1].ssh.jump[0].host") && Catch::Contains("missing"));
  CHECK_THAT(one("[{host: 198.18.4.5, hops: 2}]"), Catch::Contains("nodes[1].ssh.jump[0]") && Catch::Contains("hops"));
  CHECK_THAT(one("[{host: 198.18.4.5, port: 0}]"), Catch::Contains("nodes[1].ssh.jump[0].port"));
  CHECK_THAT(one("[{host: 'a,b'}]"), Catch::Contains("one address or DNS name per jump host"));
  CHECK_THAT(one("[{host: 'bad host!'}]"), Catch::Contains("nodes[1].ssh.jump[0].host"));
  std::string nine = "[";
  for (int i = 0; i < 9; ++i) nine += (i ? ", " : "") + std::string("{host: 198.18.4.5}");
  CHECK_THAT(one(nine + "]"), Catch::Contains("at most 8 jump hosts"));
}

TEST_CASE("inventory: postgres.layout and major give the distribution's paths, explicit ones win", "[unit]") {
  const auto with = [](const std::string& pg) {
    return "name: t\nstack: pgrex\nssh: {user: root, key: /k, known_hosts: /kh}\nnodes:\n"
           "  - {name: node1, ssh: {host: 198.18.0.11}, postgres: {host: 198.18.0.11" +
           pg +
           "}, power: {controller: command, off: 'true', on: 'true', verify: none}}\n"
           "endpoint: {kind: vip, host: 198.18.1.100}\ndriver: {type: generic}\n";
  };
  const PostgresSpec deb = parse_inventory(with(""), "inv.yaml").nodes[0].postgres;
  CHECK(deb.bin_dir == "/usr/lib/postgresql/15/bin");
  CHECK(deb.data_dir == "/var/lib/postgresql/15/main");
  const PostgresSpec rhel = parse_inventory(with(", layout: rhel, major: 16"), "inv.yaml").nodes[0].postgres;
  CHECK(rhel.bin_dir == "/usr/pgsql-16/bin");
  CHECK(rhel.data_dir == "/var/lib/pgsql/16/data");
  const PostgresSpec own =
      parse_inventory(with(", layout: rhel, data_dir: /srv/pg/data"), "inv.yaml").nodes[0].postgres;
  CHECK(own.bin_dir == "/usr/pgsql-15/bin");
  CHECK(own.data_dir == "/srv/pg/data");
  std::string issues;
  for (const auto& i : inventory_issues(with(", layout: suse, major: 200"))) issues += i.str() + "\n";
  CHECK_THAT(issues, Catch::Contains("nodes[0].postgres.layout") && Catch::Contains("must be debian") &&
                         Catch::Contains("postgres.major"));
}
