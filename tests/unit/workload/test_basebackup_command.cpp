// pg_basebackup on a node: the password reaches it through stdin into a 0600
// .pgpass, never onto a command line (issue 14, What to build 5).
#include <catch2/catch.hpp>

#include "haverify/workload/maintenance.hpp"

using namespace haverify;

TEST_CASE("basebackup: the password is on stdin as a .pgpass line, never on the command line", "[unit]") {
  NodeSpec node;
  node.name = "node2";
  node.postgres.bin_dir = "/usr/lib/postgresql/15/bin";
  node.postgres.os_user = "postgres";
  NodeSpec primary;
  primary.name = "node1";
  primary.postgres.host = "198.18.2.11";
  primary.postgres.port = 5432;
  primary.postgres.user = "repl:user";
  primary.postgres.password = "s3cr:t\\'; touch /tmp/x #";
  const BasebackupCommand c = basebackup_command(node, primary);
  CHECK(c.command.find("s3cr") == std::string::npos);
  CHECK(c.command.find("PGPASSWORD") == std::string::npos);
  CHECK(c.input == "*:*:*:repl\\:user:s3cr\\:t\\\\'; touch /tmp/x #\n");
  CHECK(c.command.find("umask 077") != std::string::npos);  // the file is 0600
  CHECK(c.command.find("trap 'rm -rf \"$d\" \"$p\"' EXIT") != std::string::npos);
  CHECK(c.command.find("PGPASSFILE=\"$p\"") != std::string::npos);
  primary.postgres.password.clear();
  CHECK(basebackup_command(node, primary).input.empty());
}
