// What the drivers run on the harness host itself (issue 17 item 6): the
// pgpool driver's pcp tools (driver.pcp_bin_dir, else the PATH), its pass
// file, and the rejoin script; preflight names each missing piece.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "haverify/config/inventory.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/preflight.hpp"
#include "test_files.hpp"

using namespace haverify;
namespace fs = std::filesystem;

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// A directory holding executable stand-ins for the named tools.
fs::path tool_dir(const std::string& name, std::initializer_list<const char*> tools) {
  const fs::path d = haverify::testing::tmpfile(name);
  fs::remove_all(d);
  fs::create_directories(d);
  for (const char* t : tools) {
    std::ofstream(d / t) << "#!/bin/sh\n";
    fs::permissions(d / t, fs::perms::owner_all);
  }
  return d;
}

Inventory pgpool_inventory() {
  Inventory inv;
  inv.driver.type = "pgpool";
  inv.driver.pcp_host = "198.18.0.10";
  inv.driver.pcp_user = "pcpadmin";
  return inv;
}

}  // namespace

TEST_CASE("harness host: the pgpool driver's pcp tools are found in pcp_bin_dir or on the PATH", "[unit]") {
  const fs::path all = tool_dir(
      "pcp-all", {"pcp_node_count", "pcp_node_info", "pcp_attach_node", "pcp_detach_node", "pcp_promote_node"});
  const fs::path some = tool_dir("pcp-some", {"pcp_node_count", "pcp_node_info"});
  Inventory inv = pgpool_inventory();
  CHECK(harness_host_problems(inv, "/nonexistent:" + all.string()).empty());
  const std::string missing = joined(harness_host_problems(inv, some.string()));
  CHECK_THAT(missing, Catch::Contains("pcp_attach_node, pcp_detach_node, pcp_promote_node") &&
                          Catch::Contains("not found on the PATH") && Catch::Contains("driver.pcp_bin_dir"));
  CHECK_THAT(missing, !Catch::Contains("pcp_node_info,"));
  // pcp_bin_dir wins over the PATH.
  inv.driver.pcp_bin_dir = some.string();
  CHECK_THAT(joined(harness_host_problems(inv, all.string())),
             Catch::Contains("in driver.pcp_bin_dir " + some.string()));
  inv.driver.pcp_bin_dir = all.string();
  CHECK(harness_host_problems(inv, "").empty());
  // A tool that is not executable is not found.
  fs::permissions(all / "pcp_node_info", fs::perms::owner_read | fs::perms::owner_write);
  CHECK_THAT(joined(harness_host_problems(inv, "")), Catch::Contains("pcp_node_info"));
}

TEST_CASE("harness host: a pcp pass file others may read, or none, is a problem, as the rejoin script", "[unit]") {
  const fs::path all = tool_dir(
      "pcp-all2", {"pcp_node_count", "pcp_node_info", "pcp_attach_node", "pcp_detach_node", "pcp_promote_node"});
  Inventory inv = pgpool_inventory();
  inv.driver.pcp_bin_dir = all.string();
  const std::string pass = haverify::testing::tmpfile("pcppass");
  std::ofstream(pass) << "*:*:pcpadmin:secret\n";
  inv.driver.pcp_passfile = pass;
  fs::permissions(pass, fs::perms::owner_read | fs::perms::owner_write);
  CHECK(harness_host_problems(inv, "").empty());
  fs::permissions(pass, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  CHECK_THAT(joined(harness_host_problems(inv, "")), Catch::Contains("chmod 600 " + pass));
  inv.driver.pcp_passfile = pass + ".absent";
  CHECK_THAT(joined(harness_host_problems(inv, "")), Catch::Contains("not a readable file"));
  // The rejoin script: the inventory's wins over haverify's own, and must exist here.
  inv.driver.pcp_passfile.clear();
  CHECK(rejoin_script_for(inv).ends_with("/scripts/pg-rejoin.sh"));
  inv.driver.rejoin_script = "/nonexistent/rejoin.sh";
  CHECK(rejoin_script_for(inv) == "/nonexistent/rejoin.sh");
  CHECK_THAT(joined(harness_host_problems(inv, "")),
             Catch::Contains("rejoin script /nonexistent/rejoin.sh is not a readable file"));
  // The pacemaker driver's rejoin_script is its own (node-side) script.
  inv.driver.type = "pacemaker";
  CHECK(rejoin_script_for(inv).ends_with("/scripts/pg-rejoin.sh"));
  CHECK_THAT(joined(harness_host_problems(inv, "")), Catch::Contains("pacemaker driver's rejoin script"));
}
