#pragma once
// Direct node probes: what each PostgreSQL server says about itself
// (pg_is_in_recovery(), its timeline and LSN), and what the primary's
// pg_stat_replication says about the standbys. No cluster manager involved.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

enum class Role { primary, standby, down, unknown };
const char* to_string(Role r);

struct NodeStatus {
  std::string node;
  Role role = Role::unknown;
  bool attached = true;  // the manager routes clients to / keeps this node
  std::string detail;
};

// Direct probe of one node: connect over its postgres address and ask
// pg_is_in_recovery(). `down` when it does not answer within `deadline`.
NodeStatus probe_node(const NodeSpec& node, std::chrono::milliseconds deadline);
std::vector<NodeStatus> probe_all(const Inventory& inv, std::chrono::milliseconds deadline);
PgTarget node_target(const NodeSpec& node);
// Where clients connect: `e` (a host list asks for a writable server when
// for_writes); the inventory's endpoint (for writes); its read_endpoint, or
// the endpoint when it has none.
PgTarget endpoint_target(const EndpointSpec& e, bool for_writes);
PgTarget endpoint_target(const Inventory& inv);
PgTarget read_endpoint_target(const Inventory& inv);

// One row: pg_is_in_recovery() (t|f), the timeline the node is on (a
// primary's insert timeline, a standby's received timeline), its LSN,
// transaction_read_only (on|off), and the server instance: its postmaster's
// start time in microseconds since the epoch, which tells apart every
// PostgreSQL server of the cluster and each restart of one (the writes name
// the same instance: workload_common.hpp, kServerIdentitySql).
// The server instance as SQL: the postmaster's start time in µs since the
// epoch. The probes (kNodeStateSql) and the writes (workload_common.hpp)
// read it with this one expression, so their values compare.
inline constexpr const char* kServerInstanceSql = "(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint";
extern const std::string kNodeStateSql;

// kNodeStateSql through SSH and psql on the node (postgres.probe: ssh): the
// row's fields ("t", "3", "0/3000148", "off", "1796550000123456"); empty with *err set when the
// command fails.
std::vector<std::string> sample_node_over_ssh(SshTransport& ssh, const NodeSpec& node,
                                              std::chrono::milliseconds deadline, std::string* err);

// A standby's row in the primary's pg_stat_replication.
struct ReplicationState {
  std::string state;       // streaming, catchup, startup, ...
  std::string sync_state;  // async, potential, sync, quorum
};

// Each inventory node's row in `primary`'s pg_stat_replication, matched by
// application_name = node name or client_addr = one of the node's
// addresses; of several rows, a streaming one. Nodes without a row are
// absent. Empty with `error` set when the query fails.
std::map<std::string, ReplicationState> replication_states(const Inventory& inv, PGconn* primary,
                                                           std::chrono::milliseconds deadline, std::string* error);

// The service endpoint answers as a writable primary (a switchover is done when it does).
bool endpoint_is_primary(const Inventory& inv, std::chrono::milliseconds deadline, std::string* why);

}  // namespace haverify
