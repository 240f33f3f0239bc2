#include "haverify/run/runner.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "faults/exec.hpp"
#include "faults/fault.hpp"
#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/run/final_state.hpp"
#include "haverify/workload/maintenance.hpp"
#include "haverify/workload/sampler.hpp"
#include "haverify/workload/workload.hpp"
#include "haverify/workload/workload_bank.hpp"
#include "reports/results.hpp"
#include "reports/stream.hpp"
#include "reports/timing.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace haverify {

std::vector<std::string> expand_scenario_paths(const std::vector<std::string>& paths, bool recursive) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> files;
      auto add = [&](const fs::directory_entry& e) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
      };
      if (recursive)
        for (const auto& e : fs::recursive_directory_iterator(p)) add(e);
      else
        for (const auto& e : fs::directory_iterator(p)) add(e);
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

std::vector<std::string> check_inventory(const Inventory& inv, std::chrono::milliseconds deadline) {
  std::vector<std::string> problems(inv.nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      const auto& n = inv.nodes[i];
      try {
        SshTransport t(n.ssh);
        t.connect();
        ExecResult r = t.exec("true", deadline);
        if (!r.ok())
          problems[i] = fmt::format("node {}: SSH to {}@{}:{} connected but `true` failed: {} exit {}", n.name,
                                    n.ssh.user, n.ssh.host, n.ssh.port, r.error, r.exit_code);
      } catch (const std::exception& e) {
        problems[i] = fmt::format("node {}: {}", n.name, e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> out;
  for (auto& p : problems)
    if (!p.empty()) out.push_back(p);
  for (const auto& n : inv.nodes) {
    if (n.power.controller == "lab" && inv.lab && !fs::exists(inv.lab->script))
      out.push_back(fmt::format("node {}: lab power controller script {} does not exist", n.name, inv.lab->script));
  }
  return out;
}

namespace {

class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void log(const std::string& s) {
  std::cout << fmt::format("[{}] {}", format_wall_ns(wall_now_ns()).substr(11, 12), s) << std::endl;
}

// Tracks, from the History stream, whether a write invoked after a marker was acknowledged.
class AckWatch {
 public:
  void on_op(const Op& op) {
    if (op.process.rfind("client-", 0) != 0 || op.f != "write") return;
    std::lock_guard lock(mu_);
    if (op.type == OpType::invoke) {
      invoked_[op.process] = op.mono_ns;
    } else if (op.type == OpType::ok) {
      auto it = invoked_.find(op.process);
      if (it != invoked_.end() && it->second >= marker_) resumed_ = true;
    }
  }
  void arm(Nanos marker) {
    std::lock_guard lock(mu_);
    marker_ = marker;
    resumed_ = false;
  }
  bool resumed() const {
    std::lock_guard lock(mu_);
    return resumed_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Nanos> invoked_;
  Nanos marker_ = 0;
  bool resumed_ = false;
};

struct Health {
  bool ok = false;
  std::string primary;
  std::string why;
  std::vector<NodeStatus> probes;
  std::vector<NodeStatus> manager;
  std::set<std::string> streaming;             // standbys streaming from the primary
  std::set<std::string> catching_up;           // connected, in catchup
  bool replication_known = false;              // pg_stat_replication could be read
  bool manager_known = false;                  // the manager answered
  std::map<std::string, std::string> blocked;  // healthy otherwise, but the manager would not promote them
};

Health assess(const Inventory& inv, ClusterDriver& driver) {
  Health h;
  h.probes = probe_all(inv, 1000ms);
  h.manager = driver.roles(2000ms);
  h.manager_known =
      std::any_of(h.manager.begin(), h.manager.end(), [](const NodeStatus& m) { return m.role != Role::unknown; });
  std::vector<std::string> primaries, problems;
  const bool replicated = driver.replicated();
  for (const auto& p : h.probes) {
    if (p.role == Role::primary) primaries.push_back(p.node);
    // Shared disk: the passive node runs no PostgreSQL; the manager vouches for it.
    if (p.role == Role::down && replicated)
      problems.push_back(fmt::format("{} does not answer ({})", p.node, p.detail));
  }
  for (const auto& m : h.manager)
    if (!m.attached || m.role == Role::unknown)
      problems.push_back(fmt::format("{}: manager says {} ({})", m.node, to_string(m.role), m.detail));
  if (primaries.size() != 1)
    problems.push_back(fmt::format("{} nodes answer as primary ({})", primaries.size(), fmt::join(primaries, ", ")));
  else
    h.primary = primaries[0];
  // Every standby must be streaming from the primary, on its timeline.
  if (primaries.size() == 1 && replicated) {
    const NodeSpec* p = inv.node(h.primary);
    std::string err;
    auto conn = pg_connect(node_target(*p), 1000ms, &err);
    std::map<std::string, ReplicationState> states;
    if (conn) {
      states = replication_states(inv, conn.get(), 1000ms, &err);
      h.replication_known = err.empty();
    }
    for (const auto& n : inv.nodes) {
      if (n.name == h.primary) continue;
      const auto it = states.find(n.name);
      const std::string state = it == states.end() ? std::string() : it->second.state;
      if (state == "streaming")
        h.streaming.insert(n.name);
      else if (state == "catchup" || state == "startup")
        h.catching_up.insert(n.name);
      if (state != "streaming")
        problems.push_back(fmt::format("{} is not streaming from primary {}{}", n.name, h.primary,
                                       err.empty() ? "" : " (" + err + ")"));
    }
  }
  // Healthy as PostgreSQL sees it: can the manager fail over to every standby?
  if (problems.empty()) {
    try {
      h.blocked = driver.takeover_blockers(h.manager, 2000ms);
    } catch (const std::exception&) {
      h.blocked.clear();
    }
    for (const auto& [node, reason] : h.blocked)
      problems.push_back(fmt::format("{} cannot take over: {}", node, reason));
  }
  h.ok = problems.empty();
  h.why = fmt::format("{}", fmt::join(problems, "; "));
  return h;
}

// The node to treat as the primary: the one the manager names (and that
// answers as a primary), else the only node answering as a primary.
std::string true_primary(const Health& h) {
  std::set<std::string> answering;
  for (const auto& p : h.probes)
    if (p.role == Role::primary) answering.insert(p.node);
  for (const auto& m : h.manager)
    if (m.attached && m.role == Role::primary && answering.count(m.node)) return m.node;
  return answering.size() == 1 ? *answering.begin() : std::string();
}

// Brings the cluster back to health: power on what is off, then rejoin every
// node that is not a healthy standby (down, detached, or a second primary
// left by a split brain) as a standby of the true primary, then wait for
// health. A node is rejoined again only if it is still unhealthy after a
// grace period.
void recover(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
             std::chrono::milliseconds timeout) {
  constexpr auto kRejoinGrace = 20s;
  constexpr auto kUnblockGrace = 20s;
  const auto until = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1000),
                    std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()));
  };
  history.record("runner", OpType::invoke, "recover", "");
  // Every round: a node may be switched off while we wait (the manager
  // fences it: a Pacemaker node whose corosync died), so power is checked
  // again each time, not just once.
  auto power_on_what_is_off = [&] {
    for (const auto& n : inv.nodes) {
      auto pc = faults::power_commands(inv, n);
      if (pc.status_is_off.empty()) continue;
      ExecResult off = pool.run(pc.where, n.name, pc.status_is_off, 10s);
      if (off.ok()) {
        log(fmt::format("recover: powering on {}", n.name));
        history.record("runner", OpType::info, "power-on", "recover", n.name);
        ExecResult on = pool.run(pc.where, n.name, pc.on, left());
        if (!on.ok())
          throw HarnessError(fmt::format("recover: power-on of {} failed: {} {}", n.name, on.error, on.err));
      }
    }
  };
  std::map<std::string, std::chrono::steady_clock::time_point> rejoined, blocked_since;
  std::string last_error;
  Health h;
  while (true) {
    power_on_what_is_off();
    h = assess(inv, driver);
    if (h.ok) break;
    if (std::chrono::steady_clock::now() > until || cancel::requested())
      throw HarnessError(fmt::format("recover: cluster not healthy after {} s: {}{}", timeout.count() / 1000, h.why,
                                     last_error.empty() ? "" : "; last rejoin error: " + last_error));
    const std::string primary = true_primary(h);
    if (!primary.empty()) {
      // Rejoin only on positive evidence that a node is not a working standby:
      // it does not answer, it answers as a second primary, the manager
      // detached it, or the primary's pg_stat_replication does not list it.
      // Unknown manager or replication state means: wait.
      std::map<std::string, std::string> why;
      for (const auto& p : h.probes) {
        if (p.node == primary) continue;
        if (p.role == Role::down && driver.replicated()) why[p.node] = "does not answer";
        if (p.role == Role::primary) why[p.node] = "answers as a second primary";
      }
      if (h.manager_known)
        for (const auto& m : h.manager)
          if (m.node != primary && !m.attached && inv.node(m.node)) why.emplace(m.node, "detached by the manager");
      if (h.replication_known && h.primary == primary)
        for (const auto& n : inv.nodes)
          if (n.name != primary && !h.streaming.count(n.name) && !h.catching_up.count(n.name))
            why.emplace(n.name, "not replicating from " + primary);
      // A working standby the manager would not promote: clear what blocks
      // it, but only once it has stayed blocked for a grace period (a
      // standby that just caught up gets its promotion score at the
      // manager's next monitor), and again only after another one.
      for (auto it = blocked_since.begin(); it != blocked_since.end();)
        it = h.blocked.count(it->first) ? std::next(it) : blocked_since.erase(it);
      for (const auto& [node, reason] : h.blocked) {
        if (why.count(node)) continue;
        auto& since = blocked_since.emplace(node, std::chrono::steady_clock::now()).first->second;
        if (std::chrono::steady_clock::now() - since < kUnblockGrace) continue;
        since = std::chrono::steady_clock::now();
        log(fmt::format("recover: unblocking {} ({})", node, reason));
        history.record("runner", OpType::invoke, "unblock", reason, node);
        try {
          driver.unblock(node, std::min<std::chrono::milliseconds>(left(), 30s));
          history.record("runner", OpType::ok, "unblock", reason, node);
        } catch (const std::exception& e) {
          last_error = e.what();
          history.record("runner", OpType::fail, "unblock", reason, node, last_error);
          log("recover: " + last_error);
        }
      }
      for (const auto& [node, reason] : why) {
        auto last = rejoined.find(node);
        if (last != rejoined.end() && std::chrono::steady_clock::now() - last->second < kRejoinGrace) continue;
        rejoined[node] = std::chrono::steady_clock::now();
        log(fmt::format("recover: rejoining {} as a standby of {} ({})", node, primary, reason));
        history.record("runner", OpType::invoke, "rejoin", reason, node);
        try {
          driver.rejoin(node, primary, left());
          history.record("runner", OpType::ok, "rejoin", reason, node);
        } catch (const std::exception& e) {
          // Retried after the grace period, until the deadline.
          last_error = e.what();
          history.record("runner", OpType::fail, "rejoin", reason, node, last_error);
          log("recover: " + last_error);
        }
      }
    }
    cancel::sleep_for(500ms);
  }
  history.record("runner", OpType::ok, "recover", h.primary);
}

// The wall time of the first nemesis inject op (in History order), noted as
// the ops stream by: the History keeps no ops to look it up afterwards.
class FirstInjectWatch final : public HistorySink {
 public:
  void on_op(const Op& op) override {
    if (op.process == "nemesis" && op.f == "inject" && wall_.load(std::memory_order_relaxed) == kNone)
      wall_.store(op.wall_ns, std::memory_order_relaxed);
  }
  std::optional<Nanos> wall() const {
    const Nanos w = wall_.load(std::memory_order_relaxed);
    return w == kNone ? std::nullopt : std::optional<Nanos>(w);
  }

 private:
  static constexpr Nanos kNone = std::numeric_limits<Nanos>::min();
  std::atomic<Nanos> wall_{kNone};
};

// Nodes recover() had to unblock (the manager would not have promoted them):
// named in the row's reason, since the run only passed because of it.
class UnblockWatch final : public HistorySink {
 public:
  void on_op(const Op& op) override {
    if (op.process != "runner" || op.f != "unblock" || op.type != OpType::ok) return;
    std::lock_guard lock(mu_);
    notes_.push_back(fmt::format("{} ({})", op.node, op.value));
  }
  std::string note() const {
    std::lock_guard lock(mu_);
    return notes_.empty() ? std::string() : fmt::format("recover unblocked {}", fmt::join(notes_, ", "));
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> notes_;
};

// When the manager noticed the fault (t_detect), from its logs: each event
// after the first injection goes into the History as {driver, detect}.
void record_detect_events(ClusterDriver& driver, History& history, Nanos inject_wall_ns) {
  try {
    const Nanos mono = mono_now_ns(), wall = wall_now_ns();
    int kept = 0;
    for (const auto& e : driver.detect_events(inject_wall_ns, 10s)) {
      if (++kept > 20) break;
      Op op;
      op.process = "driver";
      op.type = OpType::info;
      op.f = "detect";
      op.value = e.what;
      op.node = e.node;
      op.wall_ns = e.wall_ns;
      op.mono_ns = mono - (wall - e.wall_ns);
      history.append(std::move(op));
    }
  } catch (const std::exception& e) {
    log(fmt::format("t_detect: the {} driver could not read its logs: {}", driver.name(), e.what()));
  }
}

void wait_healthy(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
                  std::chrono::milliseconds timeout) {
  Health h = assess(inv, driver);
  if (h.ok) return;
  log(fmt::format("cluster not healthy ({}); recovering", h.why));
  recover(inv, driver, pool, history, timeout);
}

// Roles as seen at injection time, read once per inject step so that the
// faults of one step agree on who is primary.
class RoleSnapshot {
 public:
  RoleSnapshot(const Inventory& inv, ClusterDriver& driver) : inv_(inv), driver_(driver) {}
  const std::vector<NodeStatus>& get() {
    if (roles_.empty()) {
      roles_ = driver_.roles(2000ms);
      // Fall back to direct probes when the manager cannot tell.
      bool any = std::any_of(roles_.begin(), roles_.end(), [](const NodeStatus& s) { return s.role == Role::primary; });
      if (!any) roles_ = probe_all(inv_, 1000ms);
    }
    return roles_;
  }
  // The standbys the primary replicates to synchronously (sync_state sync or
  // quorum in its pg_stat_replication), in node-name order; every standby
  // when there are none (asynchronous replication, shared disk).
  std::vector<std::string> sync_standbys(const std::vector<std::string>& standbys) {
    std::vector<std::string> out;
    std::string primary;
    for (const auto& s : get())
      if (s.role == Role::primary) primary = s.node;
    if (driver_.replicated() && inv_.node(primary)) {
      std::string err;
      if (auto conn = pg_connect(node_target(*inv_.node(primary)), 1000ms, &err)) {
        const auto states = replication_states(inv_, conn.get(), 1000ms, &err);
        for (const auto& n : standbys)
          if (auto it = states.find(n); it != states.end() && it->second.state == "streaming" &&
                                        (it->second.sync_state == "sync" || it->second.sync_state == "quorum"))
            out.push_back(n);
      }
    }
    return out.empty() ? standbys : out;
  }

 private:
  const Inventory& inv_;
  ClusterDriver& driver_;
  std::vector<NodeStatus> roles_;
};

std::vector<std::string> nodes_with_role(RoleSnapshot& roles, const Inventory& inv, Role role) {
  std::vector<std::string> c;
  for (const auto& s : roles.get())
    if (s.role == role && inv.node(s.node)) c.push_back(s.node);
  std::sort(c.begin(), c.end());
  return c;
}

// Targets: node names, `all`, `primary`, `standby` (one standby, chosen with
// the run's seed), `standby:N` (the N-th standby in node-name order),
// `standbys` (every standby), `sync_standby` (the first synchronous standby
// in node-name order; any standby without synchronous replication).
std::vector<std::string> resolve_targets(const FaultSpec& f, const Inventory& inv, RoleSnapshot& roles,
                                         std::mt19937_64& rng) {
  std::vector<std::string> out;
  for (const auto& t : f.targets) {
    if (t == "all") {
      for (const auto& n : inv.nodes) out.push_back(n.name);
    } else if (t == "standbys") {
      auto c = nodes_with_role(roles, inv, Role::standby);
      if (c.empty()) throw HarnessError("no node is a standby at injection time");
      out.insert(out.end(), c.begin(), c.end());
    } else if (t == "sync_standby") {
      auto c = nodes_with_role(roles, inv, Role::standby);
      if (c.empty()) throw HarnessError("no node is a standby at injection time");
      out.push_back(roles.sync_standbys(c).front());
    } else if (t == "primary" || t == "standby") {
      auto c = nodes_with_role(roles, inv, t == "primary" ? Role::primary : Role::standby);
      if (c.empty()) throw HarnessError(fmt::format("no node has the role '{}' at injection time", t));
      out.push_back(c[std::uniform_int_distribution<std::size_t>(0, c.size() - 1)(rng)]);
    } else if (t.rfind("standby:", 0) == 0) {
      auto c = nodes_with_role(roles, inv, Role::standby);
      std::size_t n = 0;
      try {
        n = std::stoul(t.substr(8));
      } catch (const std::exception&) {
      }
      if (n < 1 || n > c.size())
        throw HarnessError(
            fmt::format("fault target '{}': {} standby(s) at injection time ({})", t, c.size(), fmt::join(c, ", ")));
      out.push_back(c[n - 1]);
    } else {
      if (!inv.node(t))
        throw HarnessError(fmt::format("fault target '{}' is neither a role nor a node of the inventory", t));
      out.push_back(t);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The `cluster:` steps of one run: the planned operations through the
// cluster driver, each recorded as {process: driver, f: <op>} invoke, then
// ok or fail with "<node(s)>; <ms> ms" (or one info op when skipped), and
// what they left stopped, started again at the end of the run.
class ClusterOps {
 public:
  ClusterOps(const Inventory& inv, ClusterDriver& driver, History& history)
      : inv_(inv), driver_(driver), history_(history) {}

  // The primary when the steps begin (`original_primary`).
  void capture_original_primary() {
    original_ = current_primary(inv_, driver_);
    history_.record("runner", original_.empty() ? OpType::fail : OpType::ok, "original_primary", original_, original_,
                    original_.empty() ? "no node serves as the primary" : "");
  }

  // Runs one step; returns the reason when it is skipped. Throws
  // HarnessError with the driver's message when the operation fails.
  std::optional<std::string> run(const ClusterStepSpec& c, std::mt19937_64& rng) {
    if (auto why = skip_reason(c)) {
      history_.record("driver", OpType::info, c.op, "skipped: " + *why, "");
      skipped_.push_back(fmt::format("{} ({})", c.op, *why));
      return why;
    }
    const std::string node = c.node.empty() ? std::string() : resolve(c.node, rng);
    history_.record("driver", OpType::invoke, c.op, node, node);
    const auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    };
    std::string done = node;
    try {
      if (c.op == "switchover") {
        previous_ = current_primary(inv_, driver_);
        driver_.switchover(node, c.timeout);
        done = fmt::format("{} (from {})", node, previous_.empty() ? "?" : previous_);
      } else if (c.op == "stop_node") {
        down_.insert(node);
        driver_.stop_node(node, c.timeout);
        stopped_ = node;
      } else if (c.op == "start_node") {
        driver_.start_node(node, c.timeout);
        down_.erase(node);
      } else if (c.op == "rejoin") {
        const std::string primary = current_primary(inv_, driver_);
        if (primary.empty()) throw std::runtime_error(driver_.name() + " names no primary to rejoin to");
        if (primary == node) throw std::runtime_error(node + " is the primary: nothing to rejoin");
        driver_.rejoin(node, primary, c.timeout);
        down_.erase(node);
        done = fmt::format("{} (to {})", node, primary);
      } else if (c.op == "rebuild") {
        driver_.rebuild(node, c.timeout);
        down_.erase(node);
      } else if (c.op == "stop") {
        cluster_stopped_ = true;
        done = fmt::format("all (primary {} last)", driver_.stop_cluster(c.timeout));
      } else if (c.op == "start") {
        done = fmt::format("all (primary {})", driver_.start_cluster(c.timeout));
        cluster_stopped_ = false;
        down_.clear();
      } else {
        throw std::runtime_error("unknown operation");
      }
    } catch (const std::exception& e) {
      history_.record("driver", OpType::fail, c.op, fmt::format("{}; {} ms", node, ms()), node, e.what());
      throw HarnessError(fmt::format("cluster {}{}: {}", c.op, node.empty() ? "" : " " + node, e.what()));
    }
    history_.record("driver", OpType::ok, c.op, fmt::format("{}; {} ms", done, ms()), node);
    return std::nullopt;
  }

  // Starts again what the run stopped (the cluster, or nodes stop_node
  // stopped and no later step started): like a heal, on every path. Error texts.
  std::vector<std::string> restore(std::chrono::milliseconds deadline) {
    std::vector<std::string> errors;
    auto attempt = [&](const std::string& what, const std::function<void()>& f) {
      log("restore: " + what);
      history_.record("runner", OpType::invoke, "restore", what);
      try {
        f();
        history_.record("runner", OpType::ok, "restore", what);
      } catch (const std::exception& e) {
        history_.record("runner", OpType::fail, "restore", what, "", e.what());
        errors.push_back(fmt::format("restore: {} failed: {}", what, e.what()));
      }
    };
    if (cluster_stopped_)
      attempt("start of the cluster", [&] { driver_.start_cluster(deadline); });
    else
      for (const auto& n : down_) attempt("start of " + n, [&] { driver_.start_node(n, deadline); });
    cluster_stopped_ = false;
    down_.clear();
    return errors;
  }

  // The skipped operations, "rebuild (shared_disk)".
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::optional<std::string> skip_reason(const ClusterStepSpec& c) const {
    for (const auto& cond : c.skip_if) {
      if (cond == "shared_disk" && !driver_.replicated()) return cond;
      if (cond == "driver:" + driver_.name()) return cond;
    }
    return std::nullopt;
  }

  std::string resolve(const std::string& word, std::mt19937_64& rng) {
    if (word == "original_primary") {
      if (original_.empty()) throw HarnessError("original_primary: no node served as the primary when the steps began");
      return original_;
    }
    if (word == "stopped") {
      if (stopped_.empty()) throw HarnessError("stopped: no earlier stop_node step stopped a node");
      return stopped_;
    }
    if (word == "previous_primary") {
      if (previous_.empty()) throw HarnessError("previous_primary: no earlier switchover step named a primary");
      return previous_;
    }
    FaultSpec where;
    where.targets = {word};
    RoleSnapshot roles(inv_, driver_);
    return resolve_targets(where, inv_, roles, rng).front();
  }

  const Inventory& inv_;
  ClusterDriver& driver_;
  History& history_;
  std::string original_, stopped_, previous_;  // previous_: the primary when the last switchover began
  std::set<std::string> down_;
  bool cluster_stopped_ = false;
  std::vector<std::string> skipped_;
};

struct RunContext {
  const Inventory& inv;
  const Scenario& sc;
  const RunOptions& opts;
  faults::FaultLedger& ledger;
  std::string suite;
};

// How long the end-of-run restore may take: the longest cluster step timeout.
std::chrono::milliseconds restore_deadline(const Scenario& sc) {
  std::chrono::milliseconds d{0};
  for (const auto& s : sc.steps)
    if (s.kind == StepKind::cluster) d = std::max(d, s.cluster.timeout);
  return std::max<std::chrono::milliseconds>(d, 60s);
}

reports::RunRow run_one(RunContext& ctx, int repetition, std::uint64_t seed, const std::string& run_dir) {
  const Inventory& inv = ctx.inv;
  const Scenario& sc = ctx.sc;
  reports::RunRow row;
  row.scenario = sc.name;
  row.kind = sc.kind;
  row.stack = inv.stack;
  row.profile = inv.profile;
  row.seed = seed;
  row.repetition = repetition;
  row.run_dir = run_dir;
  // The faults of the first inject step (several: joined with " & ").
  std::vector<std::string> fault_labels, target_labels;
  if (const Step* first = sc.first_inject()) {
    for (const auto& f : first->faults) {
      fault_labels.push_back(f.kind == "lan_cut" ? "lan_cut:" + f.lan : f.kind);
      target_labels.push_back(fmt::format("{}", fmt::join(f.targets, "+")));
    }
    row.fault = fmt::format("{}", fmt::join(fault_labels, " & "));
    row.target = fmt::format("{}", fmt::join(target_labels, " & "));
  }
  fs::create_directories(run_dir);

  // The History streams to disk and into the metrics and checker passes as
  // it is appended; it keeps no ops (docs/architecture.md). The sinks are
  // declared before the History and everything that appends to it, so they
  // outlive them.
  const Nanos start = mono_now_ns();
  const DurabilityChecker durability;
  const SingleWriterChecker single_writer(ctx.opts.probe_interval.count() * 1'000'000);
  const ConvergenceChecker convergence;
  const BankChecker bank_checker;
  MemoryGrowthOptions mg;
  if (sc.sampler) {
    mg.max_mb_per_hour = sc.sampler->memory_growth_mb_per_hour;
    mg.memory = sc.sampler->memory;
    mg.warmup_ns = static_cast<Nanos>(sc.sampler->warmup.count()) * 1'000'000;
    mg.min_samples = static_cast<std::size_t>(sc.sampler->min_samples);
  }
  const MemoryGrowthChecker memory_growth(mg);
  std::vector<const Checker*> checkers = {&single_writer, &convergence};
  if (sc.ledger) checkers.insert(checkers.begin(), &durability);
  if (sc.bank) checkers.push_back(&bank_checker);
  if (sc.sampler) checkers.push_back(&memory_growth);
  CheckerFeed checker_feed(checkers);
  MetricsPass metrics_pass;
  reports::HistoryJsonlWriter history_out(run_dir + "/history.jsonl");
  reports::EventsCsvWriter events_out(run_dir + "/events.csv", start);
  reports::ThroughputCsvWriter throughput_out(run_dir + "/throughput.csv", start,
                                              sc.sampler ? sc.sampler->interval : std::chrono::milliseconds(1000));
  std::optional<reports::SeriesCsvWriter> series_out;
  if (sc.sampler) series_out.emplace(run_dir + "/series.csv", start);
  FirstInjectWatch first_inject;
  UnblockWatch unblocks;
  std::vector<HistorySink*> sinks = {&history_out,  &events_out,   &throughput_out, &metrics_pass,
                                     &checker_feed, &first_inject, &unblocks};
  if (series_out) sinks.push_back(&*series_out);

  History history(/*keep_in_memory=*/false);
  for (HistorySink* s : sinks) history.add_sink(s);
  AckWatch acks;
  history.set_listener([&acks](const Op& op) { acks.on_op(op); });
  std::mt19937_64 rng(seed);
  const std::int64_t run_id = (wall_now_ns() / 1'000'000) % 9'000'000'000LL;
  const std::string run_name = fmt::format("{}-{}-r{}", sc.name, run_id, repetition);

  TransportPool pool(inv);
  auto driver = make_driver(inv, pool);
  std::unique_ptr<LedgerWorkload> workload;
  std::unique_ptr<BankWorkload> bank;
  std::unique_ptr<MaintenanceWorkload> maintenance;
  RoleProber prober(inv, history, ctx.opts.probe_interval, ctx.opts.probe_deadline);
  std::unique_ptr<ProcessSampler> sampler;
  if (sc.sampler) sampler = std::make_unique<ProcessSampler>(inv, history, *sc.sampler);
  FinalState final_state;
  std::string error;
  std::vector<std::string> heal_errors;
  LedgerOptions lopts = sc.ledger.value_or(LedgerOptions{});
  lopts.run_id = run_id;
  BankOptions bopts = sc.bank.value_or(BankOptions{});
  bopts.run_id = run_id;
  bopts.seed = seed;
  ClusterOps cluster_ops(inv, *driver, history);
  {
    faults::FaultInjector injector(inv, pool, ctx.ledger, history, run_name, ctx.opts.fault_deadline);
    faults::Execs execs(pool, ctx.ledger, history, run_name, ctx.opts.fault_deadline);
    int auto_exec_id = 0;
    try {
      history.record("runner", OpType::invoke, "setup", sc.name);
      wait_healthy(inv, *driver, pool, history, sc.setup_timeout);
      { std::ofstream(run_dir + "/status-before.txt") << driver->status_text(2000ms); }
      if (sc.ledger) LedgerWorkload::prepare(endpoint_target(inv), lopts, 10s);
      if (sc.bank) BankWorkload::prepare(endpoint_target(inv), bopts, 10s);
      if (sc.maintenance) {
        MaintenanceWorkload::prepare(inv, *sc.maintenance, sc.maintenance->deadline);
        maintenance = std::make_unique<MaintenanceWorkload>(inv, *sc.maintenance, history);
      }
      history.record("runner", OpType::ok, "setup", sc.name);
      prober.start();
      if (sampler) sampler->start();
      if (sc.has_cluster_steps()) cluster_ops.capture_original_primary();
      int auto_id = 0;
      for (const auto& step : sc.steps) {
        if (cancel::requested()) throw HarnessError(cancel::reason());
        log(fmt::format("{} #{}: {}", sc.name, repetition, step.describe()));
        history.record("runner", OpType::invoke, "step", step.describe());
        std::optional<std::string> skipped;
        switch (step.kind) {
          case StepKind::cluster:
            skipped = cluster_ops.run(step.cluster, rng);
            // A later await_writes waits for a write invoked after the operation
            // ended: writes invoked while it ran may have committed before the
            // stall it causes (a switchover's old primary serves until demoted).
            acks.arm(mono_now_ns());
            if (skipped) log(fmt::format("{} #{}: skipped ({})", sc.name, repetition, *skipped));
            break;
          case StepKind::start:
            if (step.workload == "maintenance") {
              maintenance->start();
            } else if (step.workload == "bank") {
              if (!bank) {
                bank = std::make_unique<BankWorkload>(endpoint_target(inv), bopts, history);
                bank->start();
              }
            } else if (!workload) {
              workload = std::make_unique<LedgerWorkload>(endpoint_target(inv), lopts, history);
              workload->start();
            }
            break;
          case StepKind::stop:
            if (step.workload == "maintenance") {
              maintenance->stop();
            } else if (step.workload == "bank") {
              if (bank) bank->stop();
            } else if (workload) {
              workload->stop();
            }
            break;
          case StepKind::wait:
            if (!cancel::sleep_for(step.duration)) throw HarnessError(cancel::reason());
            break;
          case StepKind::soak: {
            // A long wait, with a line of progress every minute.
            const auto until = std::chrono::steady_clock::now() + step.duration;
            for (;;) {
              const auto left =
                  std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
              if (left.count() <= 0) break;
              if (!cancel::sleep_for(std::min<std::chrono::milliseconds>(left, 60s)))
                throw HarnessError(cancel::reason());
              if (left > 60s)
                log(fmt::format("{} #{}: soak: {} s left, {} ops so far", sc.name, repetition,
                                (left.count() - 60000) / 1000, history.size()));
            }
            break;
          }
          case StepKind::exec: {
            FaultSpec where;
            where.targets = {step.exec.target};
            RoleSnapshot roles(inv, *driver);
            const auto nodes = resolve_targets(where, inv, roles, rng);
            if (step.exec.background) {
              const std::string id = step.exec.id.empty() ? fmt::format("x{}", ++auto_exec_id) : step.exec.id;
              execs.start(id, nodes.front(), step.exec.command);
            } else {
              execs.run(nodes.front(), step.exec.command, step.exec.timeout);
            }
            break;
          }
          case StepKind::maintenance: {
            const auto& m = step.maintenance;
            if (!maintenance->run_once(m.op, m.table, m.from, m.background))
              throw HarnessError(fmt::format("maintenance {} failed (see history.jsonl)", m.op));
            break;
          }
          case StepKind::inject: {
            RoleSnapshot roles(inv, *driver);
            std::vector<faults::StepFault> step_faults;
            std::vector<std::pair<std::chrono::milliseconds, std::string>> timed;  // heal after duration
            for (const auto& f : step.faults) {
              faults::StepFault sf{f.id.empty() ? fmt::format("f{}", ++auto_id) : f.id, f,
                                   resolve_targets(f, inv, roles, rng)};
              if (f.duration) timed.emplace_back(*f.duration, sf.id);
              step_faults.push_back(std::move(sf));
            }
            if (&step == sc.first_inject()) {
              for (std::size_t i = 0; i < step_faults.size(); ++i)
                target_labels[i] += fmt::format("->{}", fmt::join(step_faults[i].nodes, "+"));
              row.target = fmt::format("{}", fmt::join(target_labels, " & "));
            }
            injector.inject_step(step_faults);
            // Writes resume once one invoked after the fault is acknowledged.
            acks.arm(mono_now_ns());
            // Each fault with a duration is healed that long after the injection.
            std::sort(timed.begin(), timed.end());
            const auto injected = std::chrono::steady_clock::now();
            for (const auto& [d, id] : timed) {
              const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(injected + d -
                                                                                      std::chrono::steady_clock::now());
              if (left.count() > 0 && !cancel::sleep_for(left)) throw HarnessError(cancel::reason());
              auto errs = injector.heal(id);
              if (!errs.empty()) throw HarnessError(fmt::format("{}", fmt::join(errs, "; ")));
            }
            break;
          }
          case StepKind::heal: {
            auto errs = step.heal_id == "all" ? injector.heal_all() : injector.heal(step.heal_id);
            if (!errs.empty()) throw HarnessError(fmt::format("{}", fmt::join(errs, "; ")));
            break;
          }
          case StepKind::await_writes: {
            const auto until = std::chrono::steady_clock::now() + step.duration;
            while (!acks.resumed() && std::chrono::steady_clock::now() < until)
              if (!cancel::sleep_for(10ms)) throw HarnessError(cancel::reason());
            if (acks.resumed())
              history.record("runner", OpType::ok, "writes-resumed", "");
            else
              history.record("runner", OpType::fail, "writes-resumed", "", "",
                             "no write acknowledged before the timeout");
            break;
          }
          case StepKind::recover:
            recover(inv, *driver, pool, history, step.duration);
            break;
        }
        if (skipped)
          history.record("runner", OpType::info, "step", fmt::format("{} (skipped: {})", step.describe(), *skipped));
        else
          history.record("runner", OpType::ok, "step", step.describe());
      }
    } catch (const std::exception& e) {
      error = e.what();
      history.record("runner", OpType::fail, "run", "", "", error);
      log("error: " + error);
    }
    if (workload) workload->stop();
    if (bank) bank->stop();
    if (maintenance) maintenance->stop();
    heal_errors = execs.stop_all();
    for (auto& e : injector.heal_all()) heal_errors.push_back(std::move(e));
    for (auto& e : cluster_ops.restore(restore_deadline(sc))) heal_errors.push_back(std::move(e));
    if (!heal_errors.empty()) error += fmt::format("{}{}", error.empty() ? "" : "; ", fmt::join(heal_errors, "; "));
  }
  try {
    // The final state, once every standby has converged (or the deadline passed).
    FinalStateOptions fo;
    fo.run_id = run_id;
    if (sc.ledger) fo.ledger_table = lopts.table;
    if (sc.bank) {
      fo.bank_table = bopts.table;
      fo.bank_expected_total = bopts.initial_balance * bopts.accounts;
    }
    log(fmt::format("{} #{}: waiting for convergence (up to {} s)", sc.name, repetition,
                    sc.converge_timeout.count() / 1000));
    final_state = await_convergence(inv, *driver, fo, sc.converge_timeout, history);
  } catch (const std::exception& e) {
    if (error.empty()) error = std::string("reading the final state failed: ") + e.what();
  }
  prober.stop();
  if (sampler) sampler->stop();
  try {
    std::ofstream(run_dir + "/status-after.txt") << driver->status_text(2000ms);
  } catch (...) {
  }
  // The driver's detection events, with their own (earlier) timestamps: the
  // passes are still attached, so the metrics pass sees them (t_detect).
  if (first_inject.wall()) record_detect_events(*driver, history, *first_inject.wall());
  // Nothing appends any more: detach the sinks, then finish the passes.
  for (HistorySink* s : sinks) history.remove_sink(s);
  std::optional<std::set<std::int64_t>> final_ids;
  if (const NodeFinalState* p = final_state.find(final_state.primary)) final_ids = p->ledger_ids;
  row.metrics = metrics_pass.finish(final_ids);
  if (sc.has_cluster_steps()) {
    try {
      reports::write_operations_csv(run_dir + "/operations.csv", row.metrics.operations, start);
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
  }
  // The checkers: a verdict each, composed; their figures become boundable metrics.
  row.checkers = checker_feed.finish(final_state);
  for (const auto& [k, v] : merged_figures(row.checkers)) row.metrics.figures[k] = v;
  const std::string skipped_note =
      cluster_ops.skipped().empty() ? "" : fmt::format("skipped: {}", fmt::join(cluster_ops.skipped(), ", "));
  if (!error.empty()) {
    row.verdict = "error";
    row.reason = error;
    if (!skipped_note.empty()) row.reason += "; " + skipped_note;
  } else {
    Verdict v = evaluate(row.metrics, sc.checks);
    const CheckStatus c = compose(row.checkers);
    std::vector<std::string> reasons;
    for (const auto& cv : row.checkers)
      if (cv.status != CheckStatus::pass) reasons.push_back(format_verdict(cv));
    if (!v.pass || c == CheckStatus::fail) {
      row.verdict = "fail";
      if (!v.pass) reasons.insert(reasons.begin(), v.reason);
    } else if (c == CheckStatus::unknown) {
      row.verdict = "unknown";
    } else {
      row.verdict = "pass";
      reasons.push_back(fmt::format("{}; {} checkers passed", v.reason, row.checkers.size()));
    }
    if (!skipped_note.empty()) reasons.push_back(skipped_note);
    if (const std::string n = unblocks.note(); !n.empty()) reasons.push_back(n);
    row.reason = fmt::format("{}", fmt::join(reasons, "; "));
  }
  row.duration_s = ns_to_s(mono_now_ns() - start);
  events_out.close();
  throughput_out.close();
  if (series_out) series_out->close();
  if (const std::string e = history_out.close(); !e.empty()) {
    row.verdict = "error";
    row.reason += (row.reason.empty() ? "" : "; ") + e;
  }
  reports::write_results_csv(run_dir + "/results.csv", {row});
  return row;
}

}  // namespace

std::optional<std::pair<int, int>> parse_shard(const std::string& text, std::string* error) {
  const auto slash = text.find('/');
  int i = 0, n = 0;
  try {
    std::size_t a = 0, b = 0;
    if (slash == std::string::npos) throw std::invalid_argument("no /");
    i = std::stoi(text.substr(0, slash), &a);
    n = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    if (error) *error = fmt::format("--shard '{}': expected i/n, e.g. 1/3", text);
    return std::nullopt;
  }
  if (n < 1 || i < 1 || i > n) {
    if (error) *error = fmt::format("--shard '{}': need 1 <= i <= n", text);
    return std::nullopt;
  }
  return std::make_pair(i, n);
}

std::vector<std::size_t> seeded_order(std::size_t count, std::uint64_t seed, bool shuffle) {
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  if (!shuffle) return order;
  std::mt19937_64 rng(seed);
  for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

bool in_shard(std::size_t position, int index, int count) {
  return count >= 1 && static_cast<int>(position % static_cast<std::size_t>(count)) == index - 1;
}

namespace {

// One run of the suite: a scenario repetition, maybe a plan row.
struct SuiteItem {
  std::size_t scenario = 0;
  int repetition = 1;
  std::size_t position = 0;  // in the seeded order; the run's seed is seed + position
};

int verdict_rank(const std::string& v) {
  if (v == "error") return 3;
  if (v == "fail") return 2;
  if (v == "unknown") return 1;
  return 0;
}

// A plan row's result columns from one run: the worst repetition (the last among equals) stays.
void fill_plan_row(PlanRow& p, const reports::RunRow& r) {
  if (!p.verdict.empty() && verdict_rank(r.verdict) < verdict_rank(p.verdict)) return;
  p.verdict = r.verdict;
  p.failover_s = r.metrics.failover_s ? fmt::format("{:.3f}", *r.metrics.failover_s) : "";
  p.lost_acked = r.metrics.lost_acked ? std::to_string(*r.metrics.lost_acked) : "";
  p.reason = r.reason;
  p.run_dir = r.run_dir;
  p.seed = std::to_string(r.seed);
}

}  // namespace

std::string unhealed_faults_problem(const std::string& ledger_path) {
  faults::FaultLedger ledger(ledger_path.empty() ? faults::FaultLedger::default_path() : ledger_path);
  const auto left = ledger.entries().size();
  if (left == 0) return {};
  return fmt::format(
      "the fault ledger {} still lists {} unhealed fault(s) from an earlier run; run `haverify heal` first",
      ledger.path(), left);
}

ExitCode exit_code_for_verdicts(const std::vector<std::string>& verdicts) {
  bool any_error = false, any_fail = false;
  for (const auto& v : verdicts) {
    any_error |= v == "error";
    any_fail |= v == "fail" || v == "unknown";
  }
  if (any_error) return kExitHarness;
  return any_fail ? kExitVerdictFailed : kExitPass;
}

int run_suite(const RunOptions& opts, std::vector<reports::RunRow>* rows_out) {
  Inventory inv;
  std::vector<Scenario> scenarios;
  std::vector<PlanRow> plan_rows;  // parallel to scenarios when running a plan
  std::vector<std::string> config_errors;
  try {
    inv = load_inventory(opts.inventory_path);
  } catch (const ConfigError& e) {
    config_errors.push_back(e.what());
  }
  if (!opts.plan_path.empty()) {
    if (!opts.scenario_paths.empty()) config_errors.push_back("give either scenario files or --plan, not both");
    try {
      plan_rows = read_plan_csv(opts.plan_path, &scenarios);
      if (plan_rows.empty()) config_errors.push_back(opts.plan_path + ": the sheet has no rows");
    } catch (const PlanError& e) {
      for (const auto& p : e.problems()) config_errors.push_back(p);
    }
  } else {
    const auto files = expand_scenario_paths(opts.scenario_paths);
    if (files.empty())
      config_errors.push_back("no scenario files given (a .yaml file or a directory of them, or --plan)");
    for (const auto& f : files) {
      try {
        scenarios.push_back(load_scenario(f));
      } catch (const ConfigError& e) {
        config_errors.push_back(e.what());
      }
    }
  }
  if (opts.duration && config_errors.empty()) {
    bool any = false;
    for (auto& sc : scenarios)
      if (sc.has_soak()) {
        sc.override_soak(*opts.duration);
        any = true;
      }
    if (!any) config_errors.push_back("--duration: no scenario has a soak step to set");
  }
  if (opts.shard_count > 1 && opts.seed == 0)
    config_errors.push_back("--shard needs --seed: every shard must order the items the same way");
  if (!config_errors.empty()) {
    for (const auto& e : config_errors) std::cerr << e << "\n";
    std::cerr << "haverify: nothing was run (configuration errors above)\n";
    return kExitUsage;
  }
  if (std::string problem = unhealed_faults_problem(opts.ledger_path); !problem.empty()) {
    std::cerr << "haverify: " << problem << "\n";
    return kExitHarness;
  }
  faults::FaultLedger ledger(opts.ledger_path.empty() ? faults::FaultLedger::default_path() : opts.ledger_path);
  // A bad inventory never reaches a fault.
  auto problems = check_inventory(inv, opts.ssh_check_deadline);
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "inventory " << inv.file << ": " << p << "\n";
    std::cerr << "haverify: nothing was run (fix the inventory or the nodes; `haverify inventory check` tells more)\n";
    return kExitUsage;
  }

  const std::uint64_t seed = opts.seed ? opts.seed : static_cast<std::uint64_t>(wall_now_ns() % 1'000'000'007ULL);
  std::string suite = scenarios.front().kind;
  for (const auto& s : scenarios)
    if (s.kind != suite) suite = "mixed";
  std::string out = opts.out_dir;
  if (out.empty()) {
    out = fmt::format("runs/{}/{}", suite, timestamp_dirname(wall_now_ns()));
  }
  fs::create_directories(out);
  if (opts.out_dir.empty()) {
    std::error_code ec;
    fs::remove("runs/latest", ec);
    fs::create_directory_symlink(fs::absolute(out), "runs/latest", ec);
  }
  log(fmt::format("suite {} | stack {} | {} scenario(s) | seed {} | out {}", suite, inv.stack, scenarios.size(), seed,
                  out));

  // The suite's items in the seeded order; this shard's share of them.
  std::vector<SuiteItem> all;
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const int repeat = opts.repeat > 0 ? opts.repeat : scenarios[i].repeat;
    for (int r = 1; r <= repeat; ++r) all.push_back(SuiteItem{i, r, 0});
  }
  std::vector<SuiteItem> items;
  const auto order = seeded_order(all.size(), seed, opts.shuffle);
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    SuiteItem it = all[order[pos]];
    it.position = pos;
    if (in_shard(pos, opts.shard_index, opts.shard_count)) items.push_back(it);
  }
  if (opts.shard_count > 1)
    log(fmt::format("shard {}/{}: {} of {} run(s)", opts.shard_index, opts.shard_count, items.size(), all.size()));
  // With a plan: the sheet is written back after every run, holding this shard's rows in the sheet's order.
  const std::string plan_out = opts.plan_out.empty() ? opts.plan_path : opts.plan_out;
  std::vector<bool> plan_in_shard(plan_rows.size(), false);
  for (const auto& it : items)
    if (it.scenario < plan_in_shard.size()) plan_in_shard[it.scenario] = true;
  auto write_plan_back = [&] {
    if (plan_rows.empty()) return;
    std::vector<PlanRow> out;
    for (std::size_t i = 0; i < plan_rows.size(); ++i)
      if (plan_in_shard[i]) out.push_back(plan_rows[i]);
    write_plan_csv(plan_out, out);
  };

  std::vector<reports::RunRow> own_rows;
  std::vector<reports::RunRow>& rows = rows_out ? *rows_out : own_rows;
  rows.clear();
  std::map<std::size_t, bool> stopped;  // scenario -> --stop-after-fail hit
  int index = 0;
  for (const auto& item : items) {
    if (cancel::requested()) break;
    if (stopped[item.scenario]) continue;
    const Scenario& sc = scenarios[item.scenario];
    const int r = item.repetition;
    ++index;
    RunContext ctx{inv, sc, opts, ledger, suite};
    const std::string dir = fmt::format("{}/{:02}-{}-r{}", out, index, sc.name, r);
    const std::uint64_t run_seed = seed + static_cast<std::uint64_t>(item.position);
    reports::RunRow row;
    try {
      row = run_one(ctx, r, run_seed, dir);
    } catch (const std::exception& e) {
      row.scenario = sc.name;
      row.kind = sc.kind;
      row.stack = inv.stack;
      row.repetition = r;
      row.seed = run_seed;
      row.verdict = "error";
      row.reason = e.what();
      row.run_dir = dir;
    }
    log(fmt::format("{} #{}: {} ({})", sc.name, r, row.verdict, row.reason));
    rows.push_back(row);
    reports::write_results_csv(out + "/results.csv", rows);
    reports::write_junit_xml(out + "/junit.xml", suite, rows);
    if (item.scenario < plan_rows.size()) {
      fill_plan_row(plan_rows[item.scenario], row);
      write_plan_back();
    }
    if (!ledger.entries().empty()) {
      std::cerr << fmt::format(
          "haverify: a fault could not be healed and stays in {}; stopping the suite. "
          "Fix the node, then run `haverify heal`\n",
          ledger.path());
      std::cout << "\n" << reports::summary_table(rows);
      return kExitHarness;
    }
    if (opts.stop_after_fail && row.verdict == "fail") {
      log(fmt::format("{}: stopping its repetitions after the first failed verdict (--stop-after-fail)", sc.name));
      stopped[item.scenario] = true;
    }
  }
  if (!plan_rows.empty()) {
    write_plan_back();
    std::cout << fmt::format("\nplan:    {}\n", plan_out);
  }
  std::cout << "\n" << reports::summary_table(rows);
  std::cout << fmt::format("\nresults: {}/results.csv\njunit:   {}/junit.xml\n", out, out);
  if (std::any_of(scenarios.begin(), scenarios.end(),
                  [](const Scenario& s) { return s.kind == "switchover-timing"; })) {
    std::vector<reports::CompareRun> runs;
    for (const auto& r : rows) runs.push_back(reports::to_compare_run(r));
    std::cout << "\n" << reports::write_timing_files(out, runs) << fmt::format("\ntiming:  {}/timing.csv\n", out);
  }
  if (cancel::requested()) {
    const auto left = ledger.entries().size();
    if (left == 0)
      std::cerr << "haverify: " << cancel::reason() << "; every injected fault was healed\n";
    else
      std::cerr << fmt::format("haverify: {}; {} fault(s) could not be healed and stay in {}: run `haverify heal`\n",
                               cancel::reason(), left, ledger.path());
    return kExitHarness;
  }
  std::vector<std::string> verdicts;
  for (const auto& r : rows) verdicts.push_back(r.verdict);
  return exit_code_for_verdicts(verdicts);
}

}  // namespace haverify
