#include "faults/ledger.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "haverify/core/atomic_file.hpp"
#include "haverify/core/shell.hpp"

namespace haverify::faults {

using nlohmann::json;

static json to_json(const LedgerEntry& e) {
  return json{{"id", e.id},
              {"run", e.run},
              {"kind", e.kind},
              {"node", e.node},
              {"description", e.description},
              {"where", e.where},
              {"ssh",
               {{"host", e.ssh.host},
                {"port", e.ssh.port},
                {"user", e.ssh.user},
                {"key", e.ssh.key_file},
                {"known_hosts", e.ssh.known_hosts},
                {"connect_timeout_ms", e.ssh.connect_timeout.count()}}},
              {"heal_command", e.heal_command},
              {"void_if_off", e.void_if_off},
              {"lab_state_dir", e.lab_state_dir},
              {"injected_at", e.injected_at}};
}

static LedgerEntry from_json(const json& j) {
  LedgerEntry e;
  e.id = j.value("id", "");
  e.run = j.value("run", "");
  e.kind = j.value("kind", "");
  e.node = j.value("node", "");
  e.description = j.value("description", "");
  e.where = j.value("where", "local");
  if (j.contains("ssh")) {
    const auto& s = j["ssh"];
    e.ssh.host = s.value("host", "");
    e.ssh.port = s.value("port", 22);
    e.ssh.user = s.value("user", "root");
    e.ssh.key_file = s.value("key", "");
    e.ssh.known_hosts = s.value("known_hosts", "");
    e.ssh.connect_timeout = std::chrono::milliseconds(s.value("connect_timeout_ms", 3000));
  }
  e.heal_command = j.value("heal_command", "");
  e.void_if_off = j.value("void_if_off", "");
  e.lab_state_dir = j.value("lab_state_dir", "");
  e.injected_at = j.value("injected_at", "");
  return e;
}

FaultLedger::FaultLedger(std::string path) : path_(std::move(path)) {}

std::string FaultLedger::default_path() {
  if (const char* p = std::getenv("HAVERIFY_LEDGER"); p && *p) return p;
  return "/var/lib/haverify/fault-ledger.json";
}

std::vector<LedgerEntry> FaultLedger::load_locked() const {
  std::vector<LedgerEntry> out;
  std::ifstream in(path_);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return out;
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "fault ledger {} is corrupt ({}); inspect it by hand, heal what it lists, then delete it", path_, e.what()));
  }
  for (const auto& x : j.value("faults", json::array())) out.push_back(from_json(x));
  return out;
}

void FaultLedger::store_locked(const std::vector<LedgerEntry>& entries) const {
  namespace fs = std::filesystem;
  const fs::path p(path_);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  if (entries.empty()) {
    std::error_code ec;
    fs::remove(p, ec);
    return;
  }
  json j;
  j["faults"] = json::array();
  for (const auto& e : entries) j["faults"].push_back(to_json(e));
  // Durable and whole: a crash never leaves half a ledger (the heals would be lost).
  write_file_atomic(path_, j.dump(2) + "\n", 0600);
}

void FaultLedger::add(const LedgerEntry& e) {
  std::lock_guard lock(mu_);
  auto all = load_locked();
  all.push_back(e);
  store_locked(all);
}

void FaultLedger::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto all = load_locked();
  std::erase_if(all, [&](const LedgerEntry& e) { return e.id == id; });
  store_locked(all);
}

std::vector<LedgerEntry> FaultLedger::entries() const {
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

}  // namespace haverify::faults
