#include "faults/ledger.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
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
  const std::string text = j.dump(2) + "\n";
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write fault ledger {}", tmp));
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error(fmt::format("write to fault ledger {} failed", tmp));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (std::rename(tmp.c_str(), path_.c_str()) != 0)
    throw std::runtime_error(fmt::format("cannot rename {} to {}", tmp, path_));
  if (p.has_parent_path()) {
    int dfd = ::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
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
