#pragma once
// The one rule for "is the cluster healthy" and "who is the primary", as
// pure functions over what was observed: the direct probes (probe.hpp), the
// manager's roles (ClusterDriver::roles), the primary's
// pg_stat_replication and the takeover blockers. The I/O that gathers these
// is in observe.hpp; the unit tests feed the functions by hand.
//
// The callers ask different questions of the same rule:
//  - "who is the primary now?" (choose_primary): planned operations, the
//    final state, recover's rejoin target;
//  - "may a run start / has recover finished?" (assess_health): every node
//    answers (replicated), the manager counts every node in, exactly one node
//    answers as primary, every other node streams from it, and the manager
//    would promote each standby;
//  - "which nodes must recover rejoin?" (rejoin_reasons): only on positive
//    evidence that a node is not a working standby;
//  - "is this node a healthy standby?" (manager_standby_problem, then
//    streaming_standby_problem): a driver's planned stop/start/rebuild waits
//    for it;
//  - "has the final state converged?" (converged_standby_problem): the
//    node's own reading (in recovery, timeline) against the primary's.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "haverify/cluster/probe.hpp"

namespace haverify {

// The nodes that answer as a primary (direct probes), in probe order.
std::vector<std::string> answering_primaries(const std::vector<NodeStatus>& probes);

// Who is the primary: the node the manager names primary (attached) that also
// answers as a primary, else the only node answering as a primary, else "".
std::string choose_primary(const std::vector<NodeStatus>& probes, const std::vector<NodeStatus>& manager);

// The node the manager alone names primary (the last one it lists), "" if
// none: where a planned operation starts from, before any probe.
std::string manager_primary(const std::vector<NodeStatus>& manager);

// The primary's pg_stat_replication as read (observe.hpp: read_replication).
struct ReplicationReading {
  bool primary_answers = false;  // the connection to the primary succeeded
  std::string error;             // the connect or query error ("" if read)
  std::map<std::string, ReplicationState> states;
  bool known() const { return primary_answers && error.empty(); }
};

// What was observed of the cluster at one moment.
struct ClusterObservation {
  std::vector<std::string> nodes;   // the inventory's nodes, in order
  bool replicated = true;           // false: shared disk (the passive node runs no PostgreSQL)
  std::vector<NodeStatus> probes;   // direct probes
  std::vector<NodeStatus> manager;  // the manager's roles
  // The single answering primary's replication; nullopt when not read (no
  // single primary, or shared disk).
  std::optional<ReplicationReading> replication;
  // Standbys the manager would not promote (read only once nothing else is wrong).
  std::map<std::string, std::string> blockers;
};

struct Health {
  std::string primary;  // choose_primary
  std::vector<std::string> problems;
  std::set<std::string> streaming;             // standbys streaming from the primary
  std::set<std::string> catching_up;           // connected, in catchup or startup
  bool manager_known = false;                  // the manager answered (a role other than unknown)
  bool replication_known = false;              // the primary's pg_stat_replication could be read
  std::map<std::string, std::string> blocked;  // healthy otherwise, but the manager would not promote them
  bool ok() const { return problems.empty(); }
  std::string why() const;  // the problems joined with "; "
};

// "May a run start / has recover finished?" Problems, in order: a node that
// does not answer (replicated only), a node the manager does not count in
// (detached or unknown), not exactly one answering primary, a standby not
// streaming from the primary, then (only when there is no other problem) a
// standby the manager would not promote.
Health assess_health(const ClusterObservation& o);

// "Which nodes must recover rejoin as standbys of h.primary?" node -> why, on
// positive evidence only: it does not answer (replicated), it answers as a
// second primary, the manager (when it answered) detached it, or the
// primary's pg_stat_replication (when read) does not list it as streaming or
// catching up. Empty when there is no primary to rejoin to.
std::map<std::string, std::string> rejoin_reasons(const ClusterObservation& o, const Health& h);

// The manager's half of "is `node` a healthy standby?": "" when `view` (the
// manager's roles) lists it attached and as a standby. `manager` names the
// manager in the message.
std::string manager_standby_problem(const std::string& manager, const std::string& node,
                                    const std::vector<NodeStatus>& view);

// PostgreSQL's half: `probe` is the node's direct probe, `replication` the
// primary's pg_stat_replication. "" when it answers in recovery and streams
// from `primary`.
std::string streaming_standby_problem(const std::string& node, const std::string& primary, const NodeStatus& probe,
                                      const ReplicationReading& replication);

// One node's own reading after the run (the final state).
struct NodeReading {
  std::string node;
  bool reachable = false;
  bool in_recovery = false;
  int timeline = 0;
  bool streaming_from_primary = false;
};

// How `n` falls short of a converged standby of `primary` (the rule; the
// callers word it). Replicated: it does not answer (and nothing else is
// known), or it is not in recovery, on another timeline, not streaming from
// the primary. Shared disk: passive nodes run no PostgreSQL, so only a
// passive node answering as a second primary (`serving`) counts.
struct StandbyGaps {
  bool unreachable = false;
  bool serving = false;  // not in recovery
  bool other_timeline = false;
  bool not_streaming = false;
  bool any() const { return unreachable || serving || other_timeline || not_streaming; }
};
StandbyGaps standby_gaps(const NodeReading& n, const NodeReading& primary, bool replicated);

// "Has `n` converged as a standby of `primary`?" (the workload rows aside):
// "" if it has. Shared disk: only a passive node answering as a second
// primary is a problem.
std::string converged_standby_problem(const NodeReading& n, const NodeReading& primary, bool replicated);

// "<node> cannot take over: <why>" for each blocker.
std::vector<std::string> blocker_problems(const std::map<std::string, std::string>& blockers);

}  // namespace haverify
