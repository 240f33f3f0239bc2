#include "faults/ledger.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "haverify/core/atomic_file.hpp"
#include "haverify/core/files.hpp"
#include "haverify/core/shell.hpp"

namespace haverify::faults {

using nlohmann::json;

// An entry's SSH target: what `haverify heal` needs to reach the node as the
// run did (its user's sudo, agent or key passphrase, its jump hosts).
static json ssh_json(const SshTarget& t) {
  json j{{"host", t.host},
         {"port", t.port},
         {"user", t.user},
         {"key", t.key_file},
         {"known_hosts", t.known_hosts},
         {"connect_timeout_ms", t.connect_timeout.count()},
         {"become", t.become},
         {"agent", t.agent},
         {"passphrase_env", t.passphrase_env}};
  if (!t.jump.empty()) {
    j["jump"] = json::array();
    for (const SshTarget& hop : t.jump) j["jump"].push_back(ssh_json(hop));
  }
  return j;
}

static json to_json(const LedgerEntry& e) {
  return json{{"id", e.id},
              {"run", e.run},
              {"kind", e.kind},
              {"node", e.node},
              {"description", e.description},
              {"where", e.where},
              {"ssh", ssh_json(e.ssh)},
              {"heal_command", e.heal_command},
              {"void_if_off", e.void_if_off},
              {"lab_state_dir", e.lab_state_dir},
              {"injected_at", e.injected_at}};
}

namespace {

constexpr std::uintmax_t kMaxLedgerBytes = 16u << 20;  // a ledger lists a few faults: a few KiB
constexpr int kMaxDepth = 8;                           // the schema nests 6 deep (ssh.jump[i])

// What is wrong with one entry, every problem of it.
using Problems = std::vector<std::string>;

// A value as the messages show it: its JSON, cut short.
std::string brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// A string member: present, a string, without a NUL byte (a NUL would cut a
// command short where the shell reads it).
std::string read_text(const json& obj, const std::string& prefix, const char* key, Problems& p) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    p.push_back(fmt::format("{}{}: missing", prefix, key));
    return {};
  }
  if (!it->is_string()) {
    p.push_back(fmt::format("{}{}: {} is not a string", prefix, key, brief(*it)));
    return {};
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) {
    p.push_back(fmt::format("{}{}: holds a NUL character", prefix, key));
    return {};
  }
  return s;
}

// An integer member from lo to hi (never a float: the writer writes integers).
std::int64_t read_whole(const json& obj, const std::string& prefix, const char* key, std::int64_t lo, std::int64_t hi,
                        Problems& p) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    p.push_back(fmt::format("{}{}: missing", prefix, key));
    return lo;
  }
  // A non-negative integer parses as unsigned: compare it as one (lo and hi are >= 0 here).
  const bool in_range = it->is_number_integer() &&
                        (it->is_number_unsigned() ? it->get<std::uint64_t>() >= static_cast<std::uint64_t>(lo) &&
                                                        it->get<std::uint64_t>() <= static_cast<std::uint64_t>(hi)
                                                  : it->get<std::int64_t>() >= lo && it->get<std::int64_t>() <= hi);
  if (!in_range) {
    p.push_back(fmt::format("{}{}: {} is not a whole number from {} to {}", prefix, key, brief(*it), lo, hi));
    return lo;
  }
  return it->get<std::int64_t>();
}

// Members the schema does not have.
void unknown_keys(const json& obj, const std::string& prefix, std::initializer_list<const char*> known, Problems& p) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
      p.push_back(fmt::format("{}{}: not a key of a fault ledger entry", prefix, brief(json(key))));
  }
}

// The keys a ledger written before haverify stored them lacks (a root user
// with a key file, connected directly): optional.
void read_ssh_access(const json& s, const std::string& prefix, SshTarget& t, Problems& p) {
  if (s.contains("become")) {
    t.become = read_text(s, prefix, "become", p);
    if (!t.become.empty() && t.become != "sudo")
      p.push_back(fmt::format("{}become: {} is neither \"\" nor \"sudo\"", prefix, brief(s["become"])));
  }
  if (s.contains("agent")) {
    if (s["agent"].is_boolean())
      t.agent = s["agent"].get<bool>();
    else
      p.push_back(fmt::format("{}agent: {} is not true or false", prefix, brief(s["agent"])));
  }
  if (s.contains("passphrase_env")) t.passphrase_env = read_text(s, prefix, "passphrase_env", p);
}

SshTarget read_ssh(const json& s, const std::string& prefix, bool needed, Problems& p) {
  SshTarget t;
  if (!s.is_object()) {
    p.push_back(fmt::format("{}: {} is not an object", prefix.substr(0, prefix.size() - 1), brief(s)));
    return t;
  }
  const bool hop = prefix != "ssh.";
  unknown_keys(
      s, prefix,
      {"host", "port", "user", "key", "known_hosts", "connect_timeout_ms", "become", "agent", "passphrase_env", "jump"},
      p);
  if (hop && s.contains("jump")) p.push_back(prefix + "jump: a jump host has no jump hosts of its own");
  t.host = read_text(s, prefix, "host", p);
  if (needed && t.host.empty() && s.contains("host") && s["host"].is_string())
    p.push_back(prefix + "host: empty, but the heal runs over SSH");
  t.port = static_cast<int>(read_whole(s, prefix, "port", 1, 65535, p));
  t.user = read_text(s, prefix, "user", p);
  t.key_file = read_text(s, prefix, "key", p);
  t.known_hosts = read_text(s, prefix, "known_hosts", p);
  t.connect_timeout = std::chrono::milliseconds(read_whole(s, prefix, "connect_timeout_ms", 1, 3'600'000, p));
  read_ssh_access(s, prefix, t, p);
  if (hop || !s.contains("jump")) return t;
  const json& jump = s["jump"];
  if (!jump.is_array() || jump.size() > 8) {
    p.push_back(fmt::format("ssh.jump: {} is not a list of at most 8 jump hosts", brief(jump)));
    return t;
  }
  for (std::size_t i = 0; i < jump.size(); ++i)
    t.jump.push_back(read_ssh(jump[i], fmt::format("ssh.jump[{}].", i), needed, p));
  return t;
}

// One entry, fully validated: every key to_json writes, of its type and range.
LedgerEntry from_json(const json& j, Problems& p) {
  LedgerEntry e;
  if (!j.is_object()) {
    p.push_back(fmt::format("{} is not an object", brief(j)));
    return e;
  }
  unknown_keys(j, "",
               {"id", "run", "kind", "node", "description", "where", "ssh", "heal_command", "void_if_off",
                "lab_state_dir", "injected_at"},
               p);
  e.id = read_text(j, "", "id", p);
  if (j.contains("id") && j["id"].is_string() && e.id.empty()) p.push_back("id: empty");
  e.run = read_text(j, "", "run", p);
  e.kind = read_text(j, "", "kind", p);
  e.node = read_text(j, "", "node", p);
  e.description = read_text(j, "", "description", p);
  e.where = read_text(j, "", "where", p);
  if (j.contains("where") && e.where != "local" && e.where != "ssh" && j["where"].is_string())
    p.push_back(fmt::format("where: {} is neither \"local\" nor \"ssh\"", brief(j["where"])));
  if (j.contains("ssh"))
    e.ssh = read_ssh(j["ssh"], "ssh.", e.where == "ssh", p);
  else
    p.push_back("ssh: missing");
  e.heal_command = read_text(j, "", "heal_command", p);
  if (j.contains("heal_command") && j["heal_command"].is_string() && e.heal_command.empty())
    p.push_back("heal_command: empty (haverify lists only faults it can heal)");
  e.void_if_off = read_text(j, "", "void_if_off", p);
  e.lab_state_dir = read_text(j, "", "lab_state_dir", p);
  e.injected_at = read_text(j, "", "injected_at", p);
  return e;
}

// The whole text as JSON, nested no deeper than the schema allows.
json parse_json(const std::string& text, const std::string& path) {
  const json::parser_callback_t depth_guard = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth)
      throw LedgerError(
          fmt::format("fault ledger {} is not a haverify fault ledger: nested deeper than {} levels", path, kMaxDepth));
    return true;
  };
  try {
    return json::parse(text, depth_guard);
  } catch (const json::exception& e) {
    throw LedgerError(
        fmt::format("fault ledger {} is not valid JSON ({}); inspect it by hand, heal what it lists, then delete it",
                    path, e.what()));
  }
}

// The "faults" array of a ledger: the top level must be {"faults": [...]}.
const json& faults_array(const json& j, const std::string& path) {
  const auto fail = [&](const std::string& what) {
    return LedgerError(fmt::format(
        "fault ledger {} is not a haverify fault ledger: {} (expected {{\"faults\": [...]}}); inspect it by hand, "
        "heal what it lists, then fix or delete it",
        path, what));
  };
  if (!j.is_object()) throw fail(fmt::format("the top level is {}, not an object", brief(j)));
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "faults") throw fail(fmt::format("unknown key {}", brief(json(it.key()))));
  const auto it = j.find("faults");
  if (it == j.end()) throw fail("no \"faults\" key");
  if (!it->is_array()) throw fail(fmt::format("\"faults\" is {}, not an array", brief(*it)));
  return *it;
}

}  // namespace

LedgerContents parse_ledger(const std::string& text, const std::string& path) {
  LedgerContents out;
  if (text.empty()) return out;
  const json j = parse_json(text, path);
  const json& faults = faults_array(j, path);
  std::map<std::string, int> ids;  // an id twice: neither entry can be removed alone
  for (const auto& x : faults)
    if (x.is_object() && x.contains("id") && x["id"].is_string()) ++ids[x["id"].get<std::string>()];
  for (std::size_t i = 0; i < faults.size(); ++i) {
    const json& x = faults[i];
    Problems p;
    LedgerEntry e = from_json(x, p);
    if (p.empty() && ids[e.id] > 1) p.push_back(fmt::format("id: {} appears {} times", brief(json(e.id)), ids[e.id]));
    if (p.empty()) {
      out.entries.push_back(std::move(e));
      continue;
    }
    std::string problem = fmt::format("faults[{}]", i);
    if (!e.id.empty()) problem += fmt::format(" (id {})", brief(json(e.id)));
    for (std::size_t k = 0; k < p.size(); ++k) problem += (k == 0 ? ": " : "; ") + p[k];
    out.invalid.push_back({i, std::move(problem), x.dump()});
  }
  return out;
}

FaultLedger::FaultLedger(std::string path) : path_(std::move(path)) {}

std::string FaultLedger::default_path() {
  if (const char* p = std::getenv("HAVERIFY_LEDGER"); p && *p) return p;
  return "/var/lib/haverify/fault-ledger.json";
}

LedgerContents FaultLedger::load_locked() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path_, ec);
  if (st.type() == fs::file_type::not_found) return {};
  if (ec) throw LedgerError(fmt::format("fault ledger {}: cannot look at it ({})", path_, ec.message()));
  if (!fs::is_regular_file(st))
    throw LedgerError(fmt::format("fault ledger {} is not a regular file; give the ledger's path (--ledger)", path_));
  // The same reading as every input file (core/files.hpp): bounded, a FIFO
  // swapped in after the status never blocks.
  try {
    return parse_ledger(read_input_file(path_, kMaxLedgerBytes), path_);
  } catch (const InputFileError& e) {
    throw LedgerError(fmt::format("fault ledger {}: {}", path_, e.reason()));
  }
}

void FaultLedger::store_locked(const LedgerContents& contents) const {
  namespace fs = std::filesystem;
  const fs::path p(path_);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  if (contents.entries.empty() && contents.invalid.empty()) {
    std::error_code ec;
    fs::remove(p, ec);
    return;
  }
  json j;
  j["faults"] = json::array();
  for (const auto& e : contents.entries) j["faults"].push_back(to_json(e));
  for (const auto& e : contents.invalid) j["faults"].push_back(json::parse(e.json));  // as it was
  // Durable and whole: a crash never leaves half a ledger (the heals would be lost).
  write_file_atomic(path_, j.dump(2) + "\n", 0600);
}

void FaultLedger::add(const LedgerEntry& e) {
  std::lock_guard lock(mu_);
  auto all = load_locked();
  all.entries.push_back(e);
  store_locked(all);
}

void FaultLedger::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto all = load_locked();
  std::erase_if(all.entries, [&](const LedgerEntry& e) { return e.id == id; });
  store_locked(all);
}

std::vector<LedgerEntry> FaultLedger::entries() const {
  std::lock_guard lock(mu_);
  auto all = load_locked();
  if (!all.invalid.empty()) {
    std::string text = fmt::format("fault ledger {} lists {} entr{} haverify cannot read:", path_, all.invalid.size(),
                                   all.invalid.size() == 1 ? "y" : "ies");
    for (const auto& e : all.invalid) text += "\n  " + e.problem;
    text += "\nheal what they stand for by hand, then fix or remove them in the file";
    throw LedgerError(text);
  }
  return std::move(all.entries);
}

LedgerContents FaultLedger::contents() const {
  std::lock_guard lock(mu_);
  return load_locked();
}

std::string heal_entry(const LedgerEntry& e, std::chrono::milliseconds deadline) {
  if (e.heal_command.empty()) return {};
  auto local = [&](const std::string& command) {
    LocalTransport t;
    std::string cmd = command;
    if (!e.lab_state_dir.empty()) cmd = fmt::format("export HAVERIFY_LAB_STATE={}; {}", sh_quote(e.lab_state_dir), cmd);
    return t.exec(cmd, deadline);
  };
  ExecResult r;
  try {
    if (e.where == "ssh") {
      SshTransport t(e.ssh);
      r = t.exec(e.heal_command, deadline);
    } else {
      r = local(e.heal_command);
    }
  } catch (const std::exception& ex) {
    r.error = ex.what();
  }
  if (r.ok()) return {};
  // An in-node fault on a node that is off died with it (see FaultAction::void_if_off).
  if (!e.void_if_off.empty() && local(e.void_if_off).ok()) return {};
  if (!r.error.empty() && r.exit_code < 0 && !r.timed_out)
    return fmt::format("heal of {} on {} failed: {}", e.description, e.node, r.error);
  return fmt::format("heal of {} on {} failed: {}{}exit {} {}", e.description, e.node, r.error,
                     r.timed_out ? " (timed out) " : " ", r.exit_code, r.err);
}

ExitStatus heal_all(FaultLedger& ledger, std::chrono::milliseconds deadline, std::ostream& out, std::ostream& err) {
  const auto contents = ledger.contents();
  if (contents.entries.empty() && contents.invalid.empty()) {
    out << fmt::format("fault ledger {}: nothing to heal\n", ledger.path());
    return ExitStatus::pass;
  }
  int failed = 0;
  for (const auto& e : contents.entries) {
    std::string problem = heal_entry(e, deadline);
    if (problem.empty()) {
      ledger.remove(e.id);
      out << fmt::format("healed: {} (injected {} by run {})\n", e.description, e.injected_at, e.run);
    } else {
      ++failed;
      err << problem << "\n";
    }
  }
  for (const auto& e : contents.invalid)
    err << fmt::format("fault ledger {}: {}: not healed, kept in the ledger\n", ledger.path(), e.problem);
  if (!contents.invalid.empty())
    err << fmt::format(
        "fault ledger {}: {} entr{} could not be read; heal what they stand for by hand, then fix or remove them in "
        "the file\n",
        ledger.path(), contents.invalid.size(), contents.invalid.size() == 1 ? "y" : "ies");
  if (failed) return ExitStatus::harness;
  return contents.invalid.empty() ? ExitStatus::pass : ExitStatus::usage;
}

}  // namespace haverify::faults
