// The fault ledger reader accepts only its own schema: a file that is not a
// ledger is a LedgerError (exit 2) naming it; an entry it cannot fully
// validate runs nothing and is never dropped (issue 14, item 6).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../test_files.hpp"
#include "faults/ledger.hpp"

using namespace haverify;
using Catch::Matchers::Contains;

namespace {

// A ledger file holding `text`.
std::string ledger_file(const std::string& name, const std::string& text) {
  const auto path = testing::tmpfile(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The message of the LedgerError that reading `text` throws ("" if none).
std::string parse_error(const std::string& text) {
  try {
    faults::parse_ledger(text, "/x/ledger.json");
  } catch (const faults::LedgerError& e) {
    return e.what();
  }
  return {};
}

// The single problem parse_ledger reports for a ledger of one entry.
std::string entry_problem(const std::string& entry) {
  const auto c = faults::parse_ledger(R"({"faults":[)" + entry + "]}", "/x/ledger.json");
  REQUIRE(c.entries.empty());
  REQUIRE(c.invalid.size() == 1);
  return c.invalid[0].problem;
}

// A valid entry as the writer writes it.
nlohmann::json valid_entry() {
  return {{"id", "r/f1/1"},
          {"run", "r"},
          {"kind", "lan_cut"},
          {"node", "n1"},
          {"description", "cut"},
          {"where", "local"},
          {"ssh",
           {{"host", "h"},
            {"port", 22},
            {"user", "root"},
            {"key", "/k"},
            {"known_hosts", "/kh"},
            {"connect_timeout_ms", 3000}}},
          {"heal_command", "true"},
          {"void_if_off", ""},
          {"lab_state_dir", ""},
          {"injected_at", "t"}};
}

std::string ledger_of(const std::vector<nlohmann::json>& entries) {
  return nlohmann::json{{"faults", entries}}.dump();
}

// The problem of a valid entry with one member replaced.
std::string problem_with(const std::string& key, const nlohmann::json& value) {
  auto e = valid_entry();
  e[key] = value;
  return entry_problem(e.dump());
}
std::string ssh_problem_with(const std::string& key, const nlohmann::json& value) {
  auto e = valid_entry();
  e["ssh"][key] = value;
  return entry_problem(e.dump());
}

}  // namespace

TEST_CASE("a ledger that is not {\"faults\": [...]} is a LedgerError naming the file", "[unit]") {
  for (const char* text : {"[]", R"({"faults":{"id":"x"}})", "{}", R"({"faults":[],"more":1})", "{\"faults\":[",
                           "nul\x01l", "42", R"({"faults":null})"}) {
    INFO(text);
    const std::string msg = parse_error(text);
    CHECK_THAT(msg, Contains("/x/ledger.json"));
    CHECK_THAT(msg, Contains("fault ledger"));
  }
  // LedgerError is a usage error: exit 2, not "internal error".
  CHECK(exit_status_of(faults::LedgerError("x")) == ExitStatus::usage);
}

TEST_CASE("a ledger nested deeper than its schema is refused before anything recurses over it", "[unit]") {
  const std::string deep = R"({"faults":[{"id":)" + std::string(100000, '[') + std::string(100000, ']') + "}]}";
  CHECK_THAT(parse_error(deep), Contains("nested deeper"));
}

TEST_CASE("the ledger's own entries parse, an empty file is an empty ledger", "[unit]") {
  CHECK(parse_error("").empty());
  auto e = valid_entry();
  e["ssh"]["port"] = 2222;
  const auto c = faults::parse_ledger(ledger_of({e}), "l.json");
  REQUIRE(c.entries.size() == 1);
  CHECK(c.invalid.empty());
  CHECK(c.entries[0].ssh.port == 2222);
  CHECK(c.entries[0].heal_command == "true");
}

TEST_CASE("a ledger entry with a value of the wrong type or range is invalid, saying which", "[unit]") {
  // The reproducers of ../shared/fuzz-repro: a string port, float port and timeout (UB before).
  CHECK_THAT(ssh_problem_with("port", "22"), Contains("ssh.port: \"22\" is not a whole number"));
  CHECK_THAT(ssh_problem_with("port", 1e300), Contains("ssh.port: 1e+300"));
  CHECK_THAT(ssh_problem_with("port", 22.0), Contains("ssh.port"));
  CHECK_THAT(ssh_problem_with("port", 65536), Contains("from 1 to 65535"));
  CHECK_THAT(ssh_problem_with("port", 18446744073709551615u), Contains("ssh.port"));
  CHECK_THAT(ssh_problem_with("port", -1), Contains("ssh.port"));
  CHECK_THAT(ssh_problem_with("port", 0), Contains("ssh.port: 0 is not a whole number from 1 to 65535"));
  CHECK_THAT(ssh_problem_with("connect_timeout_ms", 1e300), Contains("ssh.connect_timeout_ms"));
  CHECK_THAT(ssh_problem_with("connect_timeout_ms", 0), Contains("ssh.connect_timeout_ms"));
  CHECK_THAT(ssh_problem_with("user", nullptr), Contains("ssh.user: null is not a string"));
  CHECK_THAT(problem_with("id", 7), Contains("id: 7 is not a string"));
  CHECK_THAT(problem_with("id", ""), Contains("id: empty"));
  CHECK_THAT(problem_with("where", "elsewhere"), Contains("where:"));
  CHECK_THAT(problem_with("heal_command", ""), Contains("heal_command: empty"));
  CHECK_THAT(problem_with("heal_command", std::string("true\0rm -rf x", 13)), Contains("NUL"));
  CHECK_THAT(problem_with("ssh", nlohmann::json::array()), Contains("ssh: [] is not an object"));
  CHECK_THAT(problem_with("extra", 1), Contains("\"extra\": not a key"));
  CHECK_THAT(entry_problem("17"), Contains("faults[0]: 17 is not an object"));
  // The ssh host is needed only when the heal runs over SSH.
  auto e = valid_entry();
  e["where"] = "ssh";
  e["ssh"]["host"] = "";
  CHECK_THAT(entry_problem(e.dump()), Contains("ssh.host: empty"));
  e["where"] = "local";
  CHECK(faults::parse_ledger(ledger_of({e}), "l.json").entries.size() == 1);
}

TEST_CASE("a ledger entry lacking its heal command is invalid, naming every missing key", "[unit]") {
  const std::string p = entry_problem(R"({"id":"x","ssh":{"port":1e300}})");
  CHECK_THAT(p, Contains("faults[0] (id \"x\")"));
  CHECK_THAT(p, Contains("heal_command: missing"));
  CHECK_THAT(p, Contains("ssh.port: 1e+300"));
  CHECK_THAT(p, Contains("ssh.host: missing"));
}

TEST_CASE("two ledger entries with one id are both invalid: neither could be removed alone", "[unit]") {
  const auto c = faults::parse_ledger(ledger_of({valid_entry(), valid_entry()}), "l.json");
  CHECK(c.entries.empty());
  REQUIRE(c.invalid.size() == 2);
  CHECK_THAT(c.invalid[1].problem, Contains("appears 2 times"));
}

TEST_CASE("FaultLedger refuses what is not a regular file and an invalid entry, naming the file", "[unit]") {
  const auto dir = testing::tmpfile("ledger-dir");
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH(faults::FaultLedger(dir).entries(), Contains(dir + " is not a regular file"));
  const auto path = ledger_file("invalid-ledger.json", R"({"faults":[{"id":"x","ssh":{"port":1e300}}]})");
  CHECK_THROWS_AS(faults::FaultLedger(path).entries(), faults::LedgerError);
  CHECK_THROWS_WITH(faults::FaultLedger(path).entries(), Contains(path));
}

TEST_CASE("heal runs nothing from an invalid entry, never drops it, and exits 2", "[unit]") {
  const auto ran_valid = testing::tmpfile("heal-valid-ran");
  const auto ran_invalid = testing::tmpfile("heal-invalid-ran");
  std::filesystem::remove(ran_valid);
  std::filesystem::remove(ran_invalid);
  // Valid but for its port: its heal command must not run.
  auto invalid = valid_entry();
  invalid["ssh"]["port"] = 1e300;
  invalid["heal_command"] = "touch " + ran_invalid;
  auto valid = valid_entry();
  valid["id"] = "r/f2/2";
  valid["heal_command"] = "touch " + ran_valid;
  const auto path = ledger_file("heal-ledger.json", ledger_of({invalid, valid}));
  faults::FaultLedger ledger(path);
  std::ostringstream out, err;
  CHECK(faults::heal_all(ledger, std::chrono::milliseconds(10000), out, err) == ExitStatus::usage);
  CHECK(std::filesystem::exists(ran_valid));
  CHECK_FALSE(std::filesystem::exists(ran_invalid));
  CHECK_THAT(err.str(), Contains(path));
  CHECK_THAT(err.str(), Contains("ssh.port"));
  CHECK_THAT(err.str(), Contains("kept in the ledger"));
  // The valid entry is gone once healed; the invalid one stays, as it was.
  const auto after = faults::parse_ledger(testing::slurp(path), path);
  CHECK(after.entries.empty());
  REQUIRE(after.invalid.size() == 1);
  CHECK_THAT(after.invalid[0].json, Contains("touch " + ran_invalid));
  // Again: still nothing runs, still kept, still exit 2.
  CHECK(faults::heal_all(ledger, std::chrono::milliseconds(10000), out, err) == ExitStatus::usage);
  CHECK_FALSE(std::filesystem::exists(ran_invalid));
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("adding to a ledger that holds an invalid entry keeps that entry", "[unit]") {
  const auto path = ledger_file("add-ledger.json", R"({"faults":[{"id":"x","ssh":{"port":1e300}}]})");
  faults::FaultLedger ledger(path);
  faults::LedgerEntry e;
  e.id = "r/f1/1";
  e.heal_command = "true";
  ledger.add(e);
  ledger.remove("x");  // not a valid entry: remove leaves it
  const auto c = ledger.contents();
  CHECK(c.entries.size() == 1);
  REQUIRE(c.invalid.size() == 1);
  CHECK_THAT(c.invalid[0].json, Contains("\"port\":1e+300"));
}

TEST_CASE("a ledger entry keeps how the node was reached: sudo, agent, passphrase variable, jump hosts", "[unit]") {
  const std::string path = testing::tmpfile("ledger-access.json");
  std::filesystem::remove(path);
  faults::LedgerEntry e;
  e.id = "r/f1/1";
  e.run = "r";
  e.kind = "lan_cut";
  e.node = "node1";
  e.description = "cut";
  e.where = "ssh";
  e.ssh.host = "198.18.0.11";
  e.ssh.user = "qa";
  e.ssh.key_file = "/k";
  e.ssh.known_hosts = "/kh";
  e.ssh.become = "sudo";
  e.ssh.agent = true;
  e.ssh.passphrase_env = "PASS";
  SshTarget hop = e.ssh;
  hop.host = "198.18.4.5";
  hop.port = 2022;
  hop.user = "jumper";
  hop.become.clear();
  e.ssh.jump = {hop, hop};
  e.ssh.jump[1].host = "198.18.4.6";
  e.heal_command = "true";
  e.injected_at = "t";
  {
    faults::FaultLedger ledger(path);
    ledger.add(e);
  }
  const auto c = faults::FaultLedger(path).contents();
  REQUIRE(c.entries.size() == 1);
  const SshTarget& t = c.entries[0].ssh;
  CHECK(t.become == "sudo");
  CHECK(t.agent);
  CHECK(t.passphrase_env == "PASS");
  REQUIRE(t.jump.size() == 2);
  CHECK(t.jump[0].host == "198.18.4.5");
  CHECK(t.jump[0].port == 2022);
  CHECK(t.jump[0].user == "jumper");
  CHECK(t.jump[0].become.empty());
  CHECK(t.jump[1].host == "198.18.4.6");
  // A ledger written before these keys (root, a key file, direct) still reads.
  CHECK(faults::parse_ledger(ledger_of({valid_entry()}), "l.json").invalid.empty());
  // Wrong values are problems, naming the key.
  CHECK_THAT(ssh_problem_with("become", "su"), Contains("ssh.become"));
  CHECK_THAT(ssh_problem_with("agent", "yes"), Contains("ssh.agent"));
  CHECK_THAT(ssh_problem_with("jump", 3), Contains("ssh.jump"));
  CHECK_THAT(ssh_problem_with("jump", nlohmann::json::array({{{"host", "h"}}})), Contains("ssh.jump[0].port: missing"));
  auto nested = valid_entry();
  nested["ssh"]["jump"] = nlohmann::json::array({valid_entry()["ssh"]});
  nested["ssh"]["jump"][0]["jump"] = nlohmann::json::array();
  CHECK_THAT(entry_problem(nested.dump()), Contains("ssh.jump[0].jump"));
}
