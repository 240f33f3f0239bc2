// The pacemaker ClusterDriver: Pacemaker + Corosync managing PostgreSQL
// with ocf:heartbeat:pgsql, in two models:
//  - replication (PG-REX style): a promotable pgsql clone; the Promoted
//    instance is the primary, the others stream from it;
//  - shared-disk: a group (Filesystem + pgsql + VIP) that runs on one node;
//    the passive node runs no PostgreSQL.
// It asks the nodes over SSH (crm_node, crm_resource, crm_mon), like an
// operator would, so it needs nothing on the harness machine.
#include <algorithm>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "haverify/cluster/driver.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

namespace {

using namespace std::chrono_literals;

class PacemakerDriver : public NodeDriverBase {
 public:
  using NodeDriverBase::NodeDriverBase;
  std::string name() const override { return "pacemaker"; }
  bool replicated() const override { return inv_.driver.model == "replication"; }

  // "1 node1 member" lines, then "---", then "resource R is running on: node1 Promoted" lines.
  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override {
    const std::string& res = inv_.driver.resource;
    const std::string cmd = fmt::format("crm_node -l && echo --- && crm_resource --locate -r {} 2>&1", sh_quote(res));
    std::string errors;
    ExecResult r = run_on_first_node(inv_, pool_, cmd, deadline, &errors);
    std::vector<NodeStatus> out;
    if (!r.ok()) {
      for (const auto& n : inv_.nodes) out.push_back(NodeStatus{n.name, Role::unknown, false, "crm: " + errors});
      return out;
    }
    std::map<std::string, std::string> membership, running;  // node -> member|lost ; node -> "" | Promoted
    std::istringstream in(r.out);
    bool locate = false;
    for (std::string line; std::getline(in, line);) {
      if (line == "---") {
        locate = true;
        continue;
      }
      std::istringstream f(line);
      if (!locate) {
        std::string id, node, state;
        if (f >> id >> node >> state) membership[node] = state;
      } else {
        const std::string key = "is running on: ";
        auto at = line.find(key);
        if (at == std::string::npos) continue;
        std::istringstream g(line.substr(at + key.size()));
        std::string node, role;
        g >> node >> role;
        running[node] = role;
      }
    }
    for (const auto& n : inv_.nodes) {
      NodeStatus s;
      s.node = n.name;
      auto m = membership.find(n.name);
      const bool member = m != membership.end() && m->second == "member";
      auto run = running.find(n.name);
      s.attached = member;
      if (!member)
        s.role = Role::down;
      else if (run != running.end() && (replicated() ? run->second == "Promoted" : true))
        s.role = Role::primary;
      else if (replicated() && run == running.end())
        s.role = Role::down;  // in the cluster, but its pgsql instance is stopped
      else
        s.role = Role::standby;  // replication: Unpromoted; shared disk: online and passive
      s.detail = fmt::format("crm: {}{}", m == membership.end() ? "unknown" : m->second,
                             run == running.end() ? ""
                                                  : fmt::format(", {} {}", inv_.driver.resource,
                                                                run->second.empty() ? "Started" : run->second));
      out.push_back(s);
    }
    return out;
  }

  std::string status_text(std::chrono::milliseconds deadline) override {
    std::string errors;
    ExecResult r = run_on_first_node(inv_, pool_, "crm_mon -1 -A -f 2>&1", deadline, &errors);
    return r.ok() ? r.out : "crm_mon: no node answered: " + errors + "\n";
  }

  // The scheduler's scores (crm_simulate -Ls on the live CIB): a standby
  // whose promotion score is -INFINITY (replication), or a passive node
  // where the group may not run (shared disk), cannot take over. Example:
  // Pacemaker 2.1.5 drops a node's transient attributes (a ping resource's
  // attribute) from the CIB when its controller respawns, and attrd does not
  // write them back while their values stay the same.
  std::map<std::string, std::string> takeover_blockers(const std::vector<NodeStatus>& roles,
                                                       std::chrono::milliseconds deadline) override {
    std::vector<std::string> candidates;
    for (const auto& st : roles)
      if (st.role == Role::standby) candidates.push_back(st.node);
    if (candidates.empty()) return {};
    const std::string& res = inv_.driver.resource;
    // Replication: the clone's primitive names the instances ("pgsql:1").
    const std::string cmd = replicated() ? fmt::format(
                                               "crm_resource -r {} --query-xml 2>/dev/null | "
                                               "sed -n 's/.*<primitive id=\"\\([^\"]*\\)\".*/\\1/p' | head -n 1; "
                                               "echo ---; crm_simulate -Ls 2>&1",
                                               sh_quote(res))
                                         : std::string("echo; echo ---; crm_simulate -Ls 2>&1");
    std::string errors;
    ExecResult r = run_on_first_node(inv_, pool_, cmd, deadline, &errors);
    const auto sep = r.out.find("---\n");
    if (!r.ok() || sep == std::string::npos) return {};
    std::string primitive = r.out.substr(0, sep);
    while (!primitive.empty() && (primitive.back() == '\n' || primitive.back() == ' ')) primitive.pop_back();
    if (replicated() && primitive.empty()) return {};
    return pacemaker_takeover_blockers(r.out.substr(sep + 4), replicated() ? primitive : res, replicated(), candidates);
  }

  // attrd_updater --refresh: the node's attribute daemon resends every value
  // to the CIB; crm_resource --cleanup: forget the node's failures (with
  // migration-threshold=1 one failure bans the resource there).
  void unblock(const std::string& node, std::chrono::milliseconds deadline) override {
    const std::string cmd = fmt::format("attrd_updater --refresh 2>&1 && crm_resource --cleanup -r {} -N {} 2>&1",
                                        sh_quote(inv_.driver.resource), sh_quote(node));
    ExecResult r = pool_.run("ssh", node, cmd, deadline);
    if (!r.ok()) throw std::runtime_error(fmt::format("unblock {}: `{}` failed: {} {}", node, cmd, describe(r), r.out));
  }

  // Replication: ban the Promoted role from the old primary (pgsql demotes
  // by stopping it) so that Pacemaker promotes the other; shared disk: ban
  // the group from the old primary so that it moves. The constraint is cleared once `target` serves; the old
  // primary of a replication cluster then waits for rejoin().
  void switchover(const std::string& target, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string current = switchover_source(target, until);
    if (current == target) return;
    const std::string& res = inv_.driver.resource;
    // A ban of the current node (a plain --move loses against
    // resource-stickiness=INFINITY); with more than two nodes, also prefer
    // the target.
    std::string cmd = fmt::format("crm_resource --ban{} -r {} -N {} 2>&1", replicated() ? " --promoted" : "",
                                  sh_quote(res), sh_quote(current));
    if (inv_.nodes.size() > 2)
      cmd += fmt::format(" && crm_resource --move{} -r {} -N {} 2>&1", replicated() ? " --promoted" : "", sh_quote(res),
                         sh_quote(target));
    ExecResult r = pool_.run("ssh", target, cmd, time_left(until));
    if (!r.ok())
      throw std::runtime_error(fmt::format("switchover: `{}` on {} failed: {} {}", cmd, target, describe(r), r.out));
    std::string why;
    const bool done = await_serving(target, until, &why);
    ExecResult clear =
        pool_.run("ssh", target, fmt::format("crm_resource --clear -r {} 2>&1", sh_quote(res)), time_left(until));
    if (!done) throw ClusterDefect(fmt::format("switchover to {} not done in time: {}", target, why));
    if (!clear.ok())
      throw std::runtime_error(fmt::format("switchover: crm_resource --clear failed on {}: {}", target, clear.out));
  }

  void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) override {
    run_rejoin_script(node, "always", fmt::format("pacemaker rejoin of {} (primary {})", node, primary),
                      std::chrono::steady_clock::now() + deadline);
  }

  // A node stopped by stop_node: rejoin.sh without a re-seed, unless the
  // pgsql agent left PGSQL.lock (the node was the primary when it stopped and
  // a standby was still running: its data may be ahead of the new primary's).
  void start_node(const std::string& node, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    run_rejoin_script(node, "if-locked", "pacemaker start of " + node, until);
    await_standby(node, until, "start of " + node);
  }

  // Replication: stop the node's cluster services, then rejoin.sh re-seeds
  // it (pg_basebackup from the replication VIP) and starts them again.
  void rebuild(const std::string& node, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string what = "rebuild of " + node;
    if (!replicated())
      throw std::runtime_error(fmt::format(
          "{}: not applicable on shared disk (the passive node holds no copy of the data; skip this step with "
          "skip_if: shared_disk)",
          what));
    require_standby(node, until, what);
    stop_services(node, until);
    await_stopped(node, until, /*ask_manager=*/true, what);
    run_rejoin_script(node, "always", "pacemaker " + what, until);
    await_standby(node, until, what);
  }

 private:
  // lab/stacks/pacemaker/rejoin.sh (driver.rejoin_script) on `node`;
  // REJOIN_RESEED=always|if-locked says when a replication node is re-seeded.
  void run_rejoin_script(const std::string& node, const std::string& reseed, const std::string& what,
                         time_point until) {
    const NodeSpec* n = inv_.node(node);
    if (!n) throw std::runtime_error(fmt::format("{}: unknown node {}", what, node));
    const auto& d = inv_.driver;
    const auto secs = std::max<long long>(5, time_left(until).count() / 1000 - 2);
    std::vector<std::string> args = {d.model,
                                     node,
                                     n->postgres.data_dir,
                                     n->postgres.bin_dir,
                                     d.repl_host,
                                     std::to_string(n->postgres.port),
                                     d.tmpdir,
                                     std::to_string(secs)};
    // start_command is one shell word list (e.g. "systemctl start pacemaker").
    std::istringstream words(d.start_command);
    for (std::string w; words >> w;) args.push_back(w);
    run_script_over_ssh(pool_, node, d.rejoin_script, args, time_left(until), what, {{"REJOIN_RESEED", reseed}});
  }
};

}  // namespace

std::map<std::string, std::string> pacemaker_takeover_blockers(const std::string& scores, const std::string& resource,
                                                               bool promotable,
                                                               const std::vector<std::string>& candidates) {
  const std::string key = promotable ? " promotion score on " : " allocation score on ";
  std::map<std::string, std::string> out;
  std::istringstream in(scores);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(key);
    if (at == std::string::npos) continue;
    // The word before the key: "pgsql:1" (an instance) or "pg-group".
    const auto word_start = line.rfind(' ', at == 0 ? 0 : at - 1);
    std::string who = line.substr(word_start == std::string::npos ? 0 : word_start + 1,
                                  at - (word_start == std::string::npos ? 0 : word_start + 1));
    if (promotable) {
      const auto colon = who.rfind(':');
      if (colon == std::string::npos) continue;
      who.resize(colon);
    }
    if (who != resource) continue;
    // "node2: -INFINITY"
    const std::string rest = line.substr(at + key.size());
    const auto sep = rest.rfind(": ");
    if (sep == std::string::npos) continue;
    const std::string node = rest.substr(0, sep), score = rest.substr(sep + 2);
    if (score != "-INFINITY") continue;
    if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) continue;
    out[node] = promotable ? fmt::format(
                                 "Pacemaker's promotion score for {} on {} is -INFINITY (a location rule, a "
                                 "missing node attribute or a failure bans the Promoted role there)",
                                 resource, node)
                           : fmt::format(
                                 "Pacemaker's allocation score for {} on {} is -INFINITY (a location rule, a "
                                 "missing node attribute or a failure bans it there)",
                                 resource, node);
  }
  return out;
}

std::unique_ptr<ClusterDriver> make_pacemaker_driver(const Inventory& inv, TransportPool& pool) {
  return std::make_unique<PacemakerDriver>(inv, pool);
}

}  // namespace haverify
