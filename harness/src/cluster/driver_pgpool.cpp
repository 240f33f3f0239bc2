#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "haverify/cluster/driver_generic.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/dns.hpp"

namespace haverify {

namespace {

// pgpool-II: roles from SHOW pool_nodes through the endpoint; detach, attach
// and switchover with pcp.
class PgpoolDriver : public GenericDriver {
 public:
  using GenericDriver::GenericDriver;
  std::string name() const override { return "pgpool"; }

  struct PoolNode {
    int id = -1;
    std::string host, port, status, role, pg_role;
  };

  std::vector<PoolNode> pool_nodes(std::chrono::milliseconds deadline, std::string* error) {
    std::vector<PoolNode> out;
    auto conn = pg_connect(endpoint_target(inv_), deadline, error);
    if (!conn) return out;
    auto res = pg_exec(conn.get(), "SHOW pool_nodes", deadline);
    if (res.kind != QueryOutcome::ok || !res.result) {
      if (error) *error = res.error;
      return out;
    }
    PGresult* r = res.result.get();
    auto col = [&](const char* name) { return PQfnumber(r, name); };
    const int c_id = col("node_id"), c_host = col("hostname"), c_port = col("port"), c_status = col("status"),
              c_role = col("role"), c_pgrole = col("pg_role");
    if (c_id < 0 || c_host < 0 || c_status < 0 || c_role < 0) {
      if (error) *error = "SHOW pool_nodes lacks node_id/hostname/status/role (unsupported pgpool version?)";
      return out;
    }
    for (int i = 0; i < PQntuples(r); ++i) {
      PoolNode n;
      n.id = std::atoi(PQgetvalue(r, i, c_id));
      n.host = PQgetvalue(r, i, c_host);
      if (c_port >= 0) n.port = PQgetvalue(r, i, c_port);
      n.status = PQgetvalue(r, i, c_status);
      n.role = PQgetvalue(r, i, c_role);
      if (c_pgrole >= 0) n.pg_role = PQgetvalue(r, i, c_pgrole);
      out.push_back(n);
    }
    return out;
  }

  // The inventory node of a pgpool backend: one of its addresses and, when
  // pgpool reports it, its PostgreSQL port (several servers may share a host).
  const NodeSpec* node_for(const PoolNode& pn) const {
    for (const auto& n : inv_.nodes) {
      if (!pn.port.empty() && pn.port != std::to_string(n.postgres.port)) continue;
      if (n.postgres.host == pn.host || n.ssh.host == pn.host) return &n;
      for (const auto& i : n.interfaces)
        if (address_without_prefix(i.address) == pn.host) return &n;
    }
    return nullptr;
  }

  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override {
    std::string err;
    auto nodes = pool_nodes(deadline, &err);
    std::vector<NodeStatus> out;
    if (nodes.empty()) {
      for (const auto& n : inv_.nodes) out.push_back(NodeStatus{n.name, Role::unknown, false, "pgpool: " + err});
      return out;
    }
    for (const auto& pn : nodes) {
      const NodeSpec* ns = node_for(pn);
      NodeStatus s;
      s.node = ns ? ns->name : pn.host;
      s.attached = is_attached(pn);
      if (!s.attached)
        s.role = Role::down;
      else if (pn.role == "primary")
        s.role = Role::primary;
      else if (pn.role == "standby")
        s.role = Role::standby;
      s.detail = fmt::format("pgpool node {} status={} role={} pg_role={}", pn.id, pn.status, pn.role, pn.pg_role);
      out.push_back(s);
    }
    return out;
  }

  // SHOW pool_nodes, then what explains a slow failover: the effective
  // health-check settings (PGPOOL SHOW health_check: the global values and
  // each backend's own) and the per-backend health-check counters
  // (SHOW pool_health_check_stats, pgpool-II 4.2+).
  std::string status_text(std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    std::string err;
    auto conn = pg_connect(endpoint_target(inv_), deadline, &err);
    if (!conn) return "pgpool endpoint unreachable: " + err + "\n";
    std::string out = show_table(conn.get(), "SHOW pool_nodes", until);
    for (const char* q : {"PGPOOL SHOW health_check", "SHOW pool_health_check_stats"})
      out += fmt::format("\n{}:\n{}", q, show_table(conn.get(), q, until));
    return out;
  }

  // One SHOW's rows as text, columns joined with " | "; the error instead.
  static std::string show_table(PGconn* conn, const std::string& query, std::chrono::steady_clock::time_point until) {
    auto res = pg_exec(conn, query, time_left(until));
    if (res.kind != QueryOutcome::ok || !res.result) return query + " failed: " + res.error + "\n";
    PGresult* r = res.result.get();
    std::string out;
    for (int c = 0; c < PQnfields(r); ++c) out += fmt::format("{}{}", c ? " | " : "", PQfname(r, c));
    out += "\n";
    for (int i = 0; i < PQntuples(r); ++i) {
      for (int c = 0; c < PQnfields(r); ++c) out += fmt::format("{}{}", c ? " | " : "", PQgetvalue(r, i, c));
      out += "\n";
    }
    return out;
  }

  // With a watchdog: a node whose pgpool does not run (it exited when it
  // lost its trusted servers, or was killed, and nothing restarted it) leaves
  // the watchdog a member short: the next failure may find no quorum, and no
  // failover. Not healthy, though its PostgreSQL could take over. A node that
  // cannot be asked is not reported (cannot tell).
  std::map<std::string, std::string> takeover_blockers(const std::vector<NodeStatus>& roles,
                                                       std::chrono::milliseconds deadline) override {
    (void)roles;
    std::map<std::string, std::string> out;
    if (!inv_.driver.watchdog) return out;
    const auto until = std::chrono::steady_clock::now() + deadline;
    const auto& members = inv_.driver.watchdog->nodes;
    std::vector<std::string> missing;
    for (const auto& n : members) {
      const ExecResult r = pool_.run("ssh", n, "pgrep -x pgpool >/dev/null; echo $?", time_left(until));
      if (r.ok() && r.out.rfind("1", 0) == 0) missing.push_back(n);
    }
    for (const auto& n : missing)
      out[n] = fmt::format(
          "its pgpool does not run: the watchdog has {} of {} members (the next failover may lack the quorum)",
          members.size() - missing.size(), members.size());
    return out;
  }

  // Starts the node's pgpool again (driver.restart.pgpool), as its service manager would.
  void unblock(const std::string& node, std::chrono::milliseconds deadline) override {
    const auto restart = inv_.driver.restart_commands.find("pgpool");
    if (!inv_.driver.watchdog || restart == inv_.driver.restart_commands.end()) return;
    ExecResult r = pool_.run("ssh", node, restart->second, deadline);
    if (!r.ok())
      throw std::runtime_error(
          fmt::format("unblock {}: `{}` failed: {} {}", node, restart->second, describe(r), r.out));
  }

  // pcp_promote_node --switchover (pgpool-II 4.3): pgpool detaches the
  // current primary and runs failover_command with the target as the new
  // main node (%m); the failover script promotes it, follow_primary_command
  // re-points the other standbys. The old primary is left for rejoin() (the
  // lab's failover.sh stops it before promoting the target).
  void switchover(const std::string& target, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string current = switchover_source(target, until);
    if (current == target) return;
    pcp("pcp_promote_node", "-s", target, until);
    std::string why;
    if (!await_serving(target, until, &why))
      throw ClusterDefect(fmt::format("switchover to {} not done in time: {}", target, why));
  }

 protected:
  bool promotes() const override { return true; }

  static bool is_attached(const PoolNode& pn) { return pn.status == "up" || pn.status == "waiting"; }

  // pcp_host as the pcp tools get it: a host name is resolved here, within
  // half of what is left (the pcp tools would resolve it with a blocking
  // getaddrinfo): with the endpoint's DNS server when it is the endpoint's
  // name (a watchdog behind a DNS endpoint: pcp reaches the leader), else
  // with the system resolver.
  std::string pcp_address(time_point until) const {
    const std::string& host = inv_.driver.pcp_host;
    if (!is_host_name(host)) return host;
    const bool endpoint_name = inv_.endpoint.kind == "dns" && host == inv_.endpoint.host;
    const DnsResult r = dns_resolve(host, endpoint_name ? inv_.endpoint.dns_server : "", time_left(until) / 2);
    if (!r.ok()) throw std::runtime_error(fmt::format("pcp_host: {}", r.error));
    return r.addresses.at(0);
  }

  // Runs a pcp tool on the harness host (PCPPASSFILE, -w); throws saying
  // `what` on failure.
  ExecResult pcp_run(const std::string& tool, const std::string& options, time_point until, const std::string& what) {
    const auto& d = inv_.driver;
    const std::string path = d.pcp_bin_dir.empty() ? tool : sh_quote(d.pcp_bin_dir + "/" + tool);
    const std::string cmd = fmt::format("PCPPASSFILE={} {} -h {} -p {} -U {} -w {}", sh_quote(d.pcp_passfile), path,
                                        sh_quote(pcp_address(until)), d.pcp_port, sh_quote(d.pcp_user), options);
    ExecResult r = pool_.local().exec(cmd, time_left(until));
    // The read-only tools are retried until `until`: pgpool's pcp process
    // drops connections while a failover restarts its children ("unable to
    // read data from socket"). Tools that change state run once.
    const bool read_only = tool == "pcp_node_count" || tool == "pcp_node_info";
    while (!r.ok() && read_only && std::chrono::steady_clock::now() + std::chrono::milliseconds(250) < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      r = pool_.local().exec(cmd, time_left(until));
    }
    if (!r.ok())
      throw std::runtime_error(
          fmt::format("{} {} ({}) failed: {}{}", tool, options, what, describe(r), output_tail(r)));
    return r;
  }

  // `node`'s backend as pcp sees it (pcp_node_count, pcp_node_info -v): pcp
  // answers even when every backend is down and pgpool refuses SQL
  // connections (SHOW pool_nodes), as after a whole-cluster stop. Throws if
  // pgpool does not list it.
  PoolNode pool_node(const std::string& node, time_point until) {
    const int count = std::atoi(pcp_run("pcp_node_count", "", until, "the pgpool backends").out.c_str());
    std::string seen;
    for (int id = 0; id < count; ++id) {
      PoolNode pn;
      pn.id = id;
      std::istringstream lines(pcp_run("pcp_node_info", fmt::format("-v -n {}", id), until, node).out);
      for (std::string line; std::getline(lines, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon), value = line.substr(colon + 1);
        key.erase(key.find_last_not_of(' ') + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (key == "Hostname") pn.host = value;
        if (key == "Port") pn.port = value;
        if (key == "Status Name") pn.status = value;
        if (key == "Role") pn.role = value;
      }
      const NodeSpec* ns = node_for(pn);
      if (ns && ns->name == node) return pn;
      seen += fmt::format("{}{}:{}", seen.empty() ? "" : ", ", pn.host, pn.port);
    }
    throw std::runtime_error(fmt::format("pgpool does not list {} among its {} backends ({})", node, count, seen));
  }

  // Runs a pcp tool for `node`'s backend (-n ID).
  void pcp(const std::string& tool, const std::string& options, const std::string& node, time_point until) {
    const int id = pool_node(node, until).id;
    pcp_run(tool, fmt::format("{}{}-n {}", options, options.empty() ? "" : " ", id), until, node);
  }

  // Waits until pgpool shows `node` attached (`want`) or not; throws when `until` passes.
  void await_pool_status(const std::string& node, bool want, time_point until, const std::string& what) {
    for (;;) {
      const PoolNode pn = pool_node(node, until);
      if (is_attached(pn) == want) return;
      if (std::chrono::steady_clock::now() >= until)
        throw std::runtime_error(
            fmt::format("{}: pgpool still shows {} (node {}) status={}", what, node, pn.id, pn.status));
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  void attach(const std::string& node, time_point until) override {
    if (is_attached(pool_node(node, until))) return;
    pcp("pcp_attach_node", "", node, until);
    await_pool_status(node, true, until, "pcp_attach_node");
  }

  // Detach first, then stop: pgpool stops routing to the node before it
  // goes. Detaching a standby does not fail over; detaching the primary asks
  // pgpool to fail over (failover_command, with pgpool's choice of the new
  // main node), which is the planned stop of a primary. With no standby left
  // (the primary, last in a whole-cluster stop) the failover script has
  // nothing to promote and pgpool just marks the node down.
  void stop_services(const std::string& node, time_point until) override {
    if (is_attached(pool_node(node, until))) {
      pcp("pcp_detach_node", "", node, until);
      await_pool_status(node, false, until, "pcp_detach_node");
    }
    GenericDriver::stop_services(node, until);
  }
};

}  // namespace

std::unique_ptr<ClusterDriver> make_pgpool_driver(const Inventory& inv, TransportPool& pool,
                                                  const std::string& rejoin_script) {
  return std::make_unique<PgpoolDriver>(inv, pool, rejoin_script);
}

}  // namespace haverify
