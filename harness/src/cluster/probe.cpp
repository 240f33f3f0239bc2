#include "haverify/cluster/probe.hpp"

#include <thread>

#include <fmt/format.h>

#include "haverify/core/shell.hpp"

namespace haverify {

const char* to_string(Role r) {
  switch (r) {
    case Role::primary:
      return "primary";
    case Role::standby:
      return "standby";
    case Role::down:
      return "down";
    case Role::unknown:
      return "unknown";
  }
  return "?";
}

PgTarget node_target(const NodeSpec& node) {
  PgTarget t;
  t.host = node.postgres.host;
  t.port = std::to_string(node.postgres.port);
  t.user = node.postgres.user;
  t.dbname = node.postgres.database;
  t.password = node.postgres.password;
  t.application_name = "haverify-probe";
  return t;
}

PgTarget endpoint_target(const EndpointSpec& e, bool for_writes) {
  PgTarget t;
  t.host = e.host;
  t.dns_server = e.dns_server;
  t.port = e.port;
  t.user = e.user;
  t.dbname = e.database;
  t.password = e.password;
  if (e.kind == "hostlist") t.extra = for_writes ? "target_session_attrs=read-write" : "target_session_attrs=any";
  return t;
}

PgTarget endpoint_target(const Inventory& inv) {
  return endpoint_target(inv.endpoint, true);
}

PgTarget read_endpoint_target(const Inventory& inv) {
  return inv.read_endpoint ? endpoint_target(*inv.read_endpoint, false) : endpoint_target(inv);
}

// One sample of a node: role, timeline, LSN and whether it accepts writes.
// "Writable" = it answers, is not in recovery and its sessions are not
// read-only. The probe deliberately does not write: a probe write on a deposed
// primary during a split brain would push WAL to the standbys still following
// it and change the very failover it measures (seen here: 3 s became 8 s).
const std::string kNodeStateSql =
    std::string(
        "SELECT pg_is_in_recovery(), "
        "CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT max(received_tli) FROM pg_stat_wal_receiver), "
        "(SELECT timeline_id FROM pg_control_checkpoint())) "
        "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
        "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, "
        "current_setting('transaction_read_only'), ") +
    kServerInstanceSql;

std::vector<std::string> sample_node_over_ssh(SshTransport& ssh, const NodeSpec& node,
                                              std::chrono::milliseconds deadline, std::string* err) {
  const std::string cmd = fmt::format("runuser -u {} -- {}/psql -XAtq -p {} -d {} -c {}",
                                      sh_quote(node.postgres.os_user), sh_quote(node.postgres.bin_dir),
                                      node.postgres.port, sh_quote(node.postgres.database), sh_quote(kNodeStateSql));
  ExecResult r = ssh.exec(cmd, deadline);
  if (!r.ok()) {
    *err = r.error.empty() ? (r.timed_out ? "ssh probe timed out" : r.err) : r.error;
    return {};
  }
  std::vector<std::string> fields;
  std::string line = r.out.substr(0, r.out.find('\n'));
  for (std::size_t pos = 0;;) {
    auto bar = line.find('|', pos);
    fields.push_back(line.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
    if (bar == std::string::npos) break;
    pos = bar + 1;
  }
  return fields;
}

NodeStatus probe_node(const NodeSpec& node, std::chrono::milliseconds deadline) {
  NodeStatus s;
  s.node = node.name;
  std::string err;
  if (node.postgres.probe == "ssh") {
    SshTransport ssh(node.ssh);
    auto fields = sample_node_over_ssh(ssh, node, deadline, &err);
    if (fields.size() != 5) {
      s.role = Role::down;
      s.detail = err;
    } else {
      s.role = fields[0] == "t" ? Role::standby : Role::primary;
    }
    return s;
  }
  const auto start = std::chrono::steady_clock::now();
  auto conn = pg_connect(node_target(node), deadline, &err, static_cast<int>(deadline.count()));
  if (!conn) {
    s.role = Role::down;
    s.detail = err;
    return s;
  }
  auto left =
      deadline - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (left.count() < 50) left = std::chrono::milliseconds(50);
  auto v = pg_query_scalar(conn.get(), "SELECT pg_is_in_recovery()", left, &err);
  if (!v) {
    s.role = Role::down;
    s.detail = err;
    return s;
  }
  s.role = (*v == "f") ? Role::primary : Role::standby;
  return s;
}

std::vector<NodeStatus> probe_all(const Inventory& inv, std::chrono::milliseconds deadline) {
  std::vector<NodeStatus> out(inv.nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i)
    threads.emplace_back([&, i] { out[i] = probe_node(inv.nodes[i], deadline); });
  for (auto& t : threads) t.join();
  return out;
}

std::map<std::string, ReplicationState> replication_states(const Inventory& inv, PGconn* primary,
                                                           std::chrono::milliseconds deadline, std::string* error) {
  std::map<std::string, ReplicationState> out;
  std::string err;
  const auto rows = pg_query_rows(
      primary, "SELECT application_name, coalesce(host(client_addr), ''), state, sync_state FROM pg_stat_replication",
      deadline, &err);
  if (!err.empty()) {
    if (error) *error = err;
    return out;
  }
  for (const auto& n : inv.nodes)
    for (const auto& r : rows) {
      if (r.size() < 4) continue;
      bool match = r[0] == n.name || r[1] == n.postgres.host;
      for (const auto& i : n.interfaces)
        if (r[1] == address_without_prefix(i.address)) match = true;
      if (!match) continue;
      ReplicationState& st = out[n.name];
      if (st.state.empty() || r[2] == "streaming") st = ReplicationState{r[2], r[3]};
    }
  return out;
}

bool endpoint_is_primary(const Inventory& inv, std::chrono::milliseconds deadline, std::string* why) {
  std::string err;
  auto conn = pg_connect(endpoint_target(inv), deadline, &err);
  if (!conn) {
    if (why) *why = "the endpoint does not answer: " + err;
    return false;
  }
  auto rows =
      pg_query_rows(conn.get(), "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')", deadline, &err);
  if (rows.size() == 1 && rows[0].size() == 2 && rows[0][0] == "f" && rows[0][1] == "off") return true;
  if (why) *why = err.empty() ? "the endpoint answers but is not a writable primary" : err;
  return false;
}

}  // namespace haverify
