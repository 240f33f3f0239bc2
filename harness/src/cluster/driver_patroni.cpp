// The patroni ClusterDriver: Patroni + etcd. It asks patronictl on the
// nodes over SSH (`patronictl list -f json`), so the harness machine needs
// neither Patroni nor access to the REST API or the DCS.
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/cluster/driver.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

namespace {

using namespace std::chrono_literals;

struct Member {
  std::string name, role, state;
  std::optional<double> lag_mb;
};

class PatroniDriver : public NodeDriverBase {
 public:
  using NodeDriverBase::NodeDriverBase;
  std::string name() const override { return "patroni"; }

  std::string ctl(const std::string& args) const {
    return fmt::format("patronictl -c {} {}", sh_quote(inv_.driver.patronictl_config), args);
  }

  std::vector<Member> members(std::chrono::milliseconds deadline, std::string* error) {
    ExecResult r = run_on_first_node(inv_, pool_, ctl("list -f json 2>/dev/null"), deadline, error);
    std::vector<Member> out;
    if (!r.ok()) return out;
    try {
      auto j = nlohmann::json::parse(r.out);
      for (const auto& m : j) {
        Member x;
        x.name = m.value("Member", "");
        x.role = m.value("Role", "");
        x.state = m.value("State", "");
        if (m.contains("Lag in MB") && m["Lag in MB"].is_number()) x.lag_mb = m["Lag in MB"].get<double>();
        out.push_back(x);
      }
    } catch (const std::exception& e) {
      if (error) *error = fmt::format("patronictl list: unreadable JSON ({}): {}", e.what(), r.out.substr(0, 200));
      out.clear();
    }
    return out;
  }

  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override {
    std::string err;
    auto ms = members(deadline, &err);
    std::vector<NodeStatus> out;
    for (const auto& n : inv_.nodes) {
      NodeStatus s;
      s.node = n.name;
      if (ms.empty()) {
        s.role = Role::unknown;
        s.attached = false;
        s.detail = "patronictl: " + err;
        out.push_back(s);
        continue;
      }
      const Member* m = nullptr;
      for (const auto& x : ms)
        if (x.name == n.name) m = &x;
      if (!m) {
        s.role = Role::down;
        s.attached = false;  // no member key: Patroni is not running there
        s.detail = "patroni: not a member";
      } else {
        const bool running = m->state == "running" || m->state == "streaming";
        s.attached = true;
        if (m->role == "Leader" && running)
          s.role = Role::primary;
        else if (m->role != "Leader" && running)
          s.role = Role::standby;
        else
          s.role = Role::down;
        s.detail = fmt::format("patroni: {} {}{}", m->role, m->state,
                               m->lag_mb ? fmt::format(" lag {} MB", *m->lag_mb) : std::string());
      }
      out.push_back(s);
    }
    return out;
  }

  std::string status_text(std::chrono::milliseconds deadline) override {
    std::string errors;
    ExecResult r = run_on_first_node(inv_, pool_, ctl("list 2>&1"), deadline, &errors);
    return r.ok() ? r.out : "patronictl list: no node answered: " + errors + "\n";
  }

  void switchover(const std::string& target, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string current = switchover_source(target, until);
    if (current == target) return;
    make_sync_standby(target, until);
    const std::string cmd =
        ctl(fmt::format("switchover --leader {} --candidate {} --force 2>&1", sh_quote(current), sh_quote(target)));
    ExecResult r = pool_.run("ssh", target, cmd, time_left(until));
    // patronictl reports a refused switchover (e.g. a candidate that is not
    // the synchronous standby in synchronous_mode) on stdout.
    if (r.ok() && (r.out.find("Switchover failed") != std::string::npos || r.out.find("Error:") != std::string::npos))
      throw ClusterDefect(fmt::format("switchover to {} refused by patronictl: {}", target, r.out));
    if (!r.ok())
      throw std::runtime_error(fmt::format("switchover: `{}` on {} failed: {} {}", cmd, target, describe(r), r.out));
    std::string why;
    if (!await_serving(target, until, &why))
      throw ClusterDefect(fmt::format("switchover to {} not done in time: {}", target, why));
  }

  // In synchronous_mode Patroni switches over only to its synchronous
  // standby ("candidate name does not match with sync_standby"), and it keeps
  // the one it has while it stays connected: after a switchover or a
  // failover, the old primary comes back as an asynchronous replica and the
  // switch back to it would be refused. So when `target` is a replica and
  // another member is the synchronous standby, that member is restarted with
  // `patronictl restart`: Patroni first hands the synchronous role to another
  // replica (`target`, with one synchronous standby and two replicas), then
  // restarts it. Nothing happens without synchronous_mode (no Sync Standby).
  void make_sync_standby(const std::string& target, time_point until) {
    std::string err, sync;
    bool target_sync = false;
    for (const auto& m : members(time_left(until), &err)) {
      if (m.role != "Sync Standby") continue;
      if (m.name == target) target_sync = true;
      if (sync.empty()) sync = m.name;
    }
    if (sync.empty() || target_sync) return;
    run_service_command(
        sync, ctl(fmt::format("restart {} {} --force 2>&1", sh_quote(inv_.driver.resource), sh_quote(sync))), until,
        fmt::format("handing the synchronous role from {} to {} (patronictl restart)", sync, target));
    for (;;) {
      for (const auto& m : members(time_left(until), &err))
        if (m.name == target && m.role == "Sync Standby") return;
      if (std::chrono::steady_clock::now() >= until)
        throw std::runtime_error(fmt::format(
            "switchover to {}: Patroni did not make it the synchronous standby after {} restarted (synchronous_mode "
            "allows a switchover only to the synchronous standby)",
            target, sync));
      std::this_thread::sleep_for(250ms);
    }
  }

  // Patroni rejoins an old primary itself (pg_rewind) once it runs again:
  // start it, wait for the member to stream; if it does not, reinit it.
  void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const auto& d = inv_.driver;
    run_service_command(node, d.start_command, until, "rejoin (driver.start_command)");
    auto streaming = [&] {
      std::string err;
      for (const auto& m : members(time_left(until), &err))
        if (m.name == node && m.role != "Leader" && (m.state == "streaming" || m.state == "running"))
          return probe_node(*inv_.node(node), 1000ms).role == Role::standby;
      return false;
    };
    const auto reinit_after = std::chrono::steady_clock::now() + (until - std::chrono::steady_clock::now()) / 2;
    bool reinit = false;
    while (std::chrono::steady_clock::now() < until) {
      if (streaming()) return;
      if (!reinit && std::chrono::steady_clock::now() > reinit_after) {
        reinit = true;
        pool_.run("ssh", node,
                  ctl(fmt::format("reinit --force --wait {} {} 2>&1", sh_quote(d.resource), sh_quote(node))),
                  time_left(until));
      }
      std::this_thread::sleep_for(500ms);
    }
    throw std::runtime_error(fmt::format("rejoin {} (leader {}): not streaming in time", node, primary));
  }

  // patronictl reinit: Patroni wipes the replica's data directory and takes
  // a fresh base backup from the leader.
  void rebuild(const std::string& node, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string what = "rebuild of " + node;
    require_standby(node, until, what);
    const std::string cmd =
        ctl(fmt::format("reinit --force --wait {} {}", sh_quote(inv_.driver.resource), sh_quote(node)));
    // patronictl reports a refused reinit on stdout and exits 0.
    const ExecResult r = run_service_command(node, cmd, until, "rebuild (patronictl reinit)");
    if (r.out.find("Failed") != std::string::npos || r.out.find("Error:") != std::string::npos)
      throw ClusterDefect(fmt::format("{}: patronictl reinit refused: {}", what, r.out));
    await_standby(node, until, what);
  }
};

}  // namespace

std::unique_ptr<ClusterDriver> make_patroni_driver(const Inventory& inv, TransportPool& pool) {
  return std::make_unique<PatroniDriver>(inv, pool);
}

}  // namespace haverify
