// The health rule (cluster/health.hpp): who is primary, may a run start,
// which nodes recover rejoins, is a node a healthy standby, has the final
// state converged. Observations built by hand, no cluster.
#include <catch2/catch.hpp>

#include "haverify/cluster/health.hpp"

using namespace haverify;

namespace {

NodeStatus st(const std::string& node, Role role, bool attached = true, const std::string& detail = "") {
  return NodeStatus{node, role, attached, detail};
}

ReplicationReading streams(std::map<std::string, std::string> states) {
  ReplicationReading r;
  r.primary_answers = true;
  for (const auto& [n, s] : states) r.states[n] = ReplicationState{s, "async"};
  return r;
}

// node1 primary, node2 and node3 standbys, as probes and manager agree.
ClusterObservation healthy() {
  ClusterObservation o;
  o.nodes = {"node1", "node2", "node3"};
  o.probes = {st("node1", Role::primary), st("node2", Role::standby), st("node3", Role::standby)};
  o.manager = o.probes;
  o.replication = streams({{"node2", "streaming"}, {"node3", "streaming"}});
  return o;
}

}  // namespace

TEST_CASE("health: one primary, every standby streaming: healthy", "[unit]") {
  const Health h = assess_health(healthy());
  CHECK(h.ok());
  CHECK(h.primary == "node1");
  CHECK(h.why().empty());
  CHECK(h.manager_known);
  CHECK(h.replication_known);
  CHECK(h.streaming == std::set<std::string>{"node2", "node3"});
  CHECK(rejoin_reasons(healthy(), h).empty());
}

TEST_CASE("health: who is primary", "[unit]") {
  const std::vector<NodeStatus> one = {st("a", Role::primary), st("b", Role::standby)};
  const std::vector<NodeStatus> two = {st("a", Role::primary), st("b", Role::primary)};
  const std::vector<NodeStatus> none = {st("a", Role::down), st("b", Role::standby)};
  // The only node answering as primary, whatever the manager says.
  CHECK(choose_primary(one, {}) == "a");
  CHECK(choose_primary(one, {st("b", Role::primary)}) == "a");
  // Two answer: the one the manager names (attached) wins; detached or silent manager: none.
  CHECK(choose_primary(two, {st("b", Role::primary)}) == "b");
  CHECK(choose_primary(two, {st("b", Role::primary, /*attached=*/false)}).empty());
  CHECK(choose_primary(two, {}).empty());
  // The manager's word alone is not enough: the node must answer as primary.
  CHECK(choose_primary(none, {st("a", Role::primary)}).empty());
  CHECK(manager_primary({st("a", Role::standby), st("b", Role::primary)}) == "b");
  CHECK(manager_primary({st("a", Role::down)}).empty());
  CHECK(answering_primaries(two) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("health: two primaries (split brain): unhealthy, the second one rejoined", "[unit]") {
  ClusterObservation o = healthy();
  o.probes[2] = st("node3", Role::primary);
  o.replication.reset();  // not read without a single primary
  const Health h = assess_health(o);
  CHECK_FALSE(h.ok());
  CHECK(h.why() == "2 nodes answer as primary (node1, node3)");
  CHECK(h.primary == "node1");  // the manager names node1
  const auto why = rejoin_reasons(o, h);
  CHECK(why == std::map<std::string, std::string>{{"node3", "answers as a second primary"}});
}

TEST_CASE("health: no primary: unhealthy, nothing to rejoin to", "[unit]") {
  ClusterObservation o = healthy();
  o.probes[0] = st("node1", Role::down, true, "connection refused");
  o.manager[0] = st("node1", Role::down, false, "pgpool down");
  o.replication.reset();
  const Health h = assess_health(o);
  CHECK_FALSE(h.ok());
  CHECK(h.primary.empty());
  CHECK(h.problems == std::vector<std::string>{"node1 does not answer (connection refused)",
                                               "node1: manager says down (pgpool down)",
                                               "0 nodes answer as primary ()"});
  CHECK(rejoin_reasons(o, h).empty());
}

TEST_CASE("health: a standby not streaming, one catching up", "[unit]") {
  ClusterObservation o = healthy();
  o.replication = streams({{"node2", "catchup"}});
  const Health h = assess_health(o);
  CHECK_FALSE(h.ok());
  CHECK(h.problems == std::vector<std::string>{"node2 is not streaming from primary node1",
                                               "node3 is not streaming from primary node1"});
  CHECK(h.catching_up == std::set<std::string>{"node2"});
  // Catching up is not rejoined; absent from pg_stat_replication is.
  CHECK(rejoin_reasons(o, h) == std::map<std::string, std::string>{{"node3", "not replicating from node1"}});
}

TEST_CASE("health: the primary's replication cannot be read: unhealthy, nobody rejoined for it", "[unit]") {
  ClusterObservation o = healthy();
  o.replication = ReplicationReading{false, "timeout", {}};
  const Health h = assess_health(o);
  CHECK_FALSE(h.replication_known);
  CHECK(h.problems.front() == "node2 is not streaming from primary node1 (timeout)");
  CHECK(rejoin_reasons(o, h).empty());
}

TEST_CASE("health: a blocked standby is a problem only when nothing else is", "[unit]") {
  ClusterObservation o = healthy();
  o.blockers = {{"node3", "promotion score -INFINITY"}};
  Health h = assess_health(o);
  CHECK_FALSE(h.ok());
  CHECK(h.why() == "node3 cannot take over: promotion score -INFINITY");
  CHECK(h.blocked.count("node3"));
  CHECK(rejoin_reasons(o, h).empty());  // unblocked, not rejoined
  o.replication = streams({{"node3", "streaming"}});
  h = assess_health(o);
  CHECK(h.blocked.empty());
  CHECK(h.problems == std::vector<std::string>{"node2 is not streaming from primary node1"});
}

TEST_CASE("health: a node down, detached by the manager", "[unit]") {
  ClusterObservation o = healthy();
  o.probes[1] = st("node2", Role::down, true, "no route");
  o.manager[1] = st("node2", Role::down, false, "status=down");
  o.replication = streams({{"node3", "streaming"}});
  const Health h = assess_health(o);
  CHECK(h.problems == std::vector<std::string>{"node2 does not answer (no route)",
                                               "node2: manager says down (status=down)",
                                               "node2 is not streaming from primary node1"});
  CHECK(rejoin_reasons(o, h) == std::map<std::string, std::string>{{"node2", "does not answer"}});
}

TEST_CASE("health: an unknown manager is a problem but no evidence for a rejoin", "[unit]") {
  ClusterObservation o = healthy();
  for (auto& m : o.manager) m = st(m.node, Role::unknown, false, "pgpool: refused");
  const Health h = assess_health(o);
  CHECK_FALSE(h.ok());
  CHECK_FALSE(h.manager_known);
  CHECK(h.problems.size() == 3);
  CHECK(rejoin_reasons(o, h).empty());
}

TEST_CASE("health: shared disk: the passive node runs no PostgreSQL", "[unit]") {
  ClusterObservation o;
  o.nodes = {"node1", "node2"};
  o.replicated = false;
  o.probes = {st("node1", Role::primary), st("node2", Role::down)};
  o.manager = {st("node1", Role::primary), st("node2", Role::standby)};
  const Health h = assess_health(o);
  CHECK(h.ok());
  CHECK(rejoin_reasons(o, h).empty());
}

TEST_CASE("health: is a node a healthy standby (the drivers' planned operations)", "[unit]") {
  const std::vector<NodeStatus> view = {st("a", Role::primary), st("b", Role::standby),
                                        st("c", Role::down, false, "x")};
  CHECK(manager_standby_problem("pgpool", "b", view).empty());
  CHECK(manager_standby_problem("pgpool", "c", view) == "pgpool says c is down (x)");
  CHECK(manager_standby_problem("pgpool", "d", view) == "pgpool does not list d");
  CHECK(manager_standby_problem("pgpool", "a", view) == "pgpool says a is primary ()");

  const NodeStatus standby = st("b", Role::standby);
  CHECK(streaming_standby_problem("b", "a", standby, streams({{"b", "streaming"}})).empty());
  CHECK(streaming_standby_problem("b", "a", st("b", Role::primary), {}) == "b answers primary ");
  CHECK(streaming_standby_problem("b", "a", standby, ReplicationReading{false, "refused", {}}) ==
        "the primary a does not answer: refused");
  CHECK(streaming_standby_problem("b", "a", standby, streams({{"b", "catchup"}})) ==
        "b is not streaming from a (catchup)");
  CHECK(streaming_standby_problem("b", "a", standby, streams({})) ==
        "b is not streaming from a (not in pg_stat_replication)");
  CHECK(streaming_standby_problem("b", "a", standby, ReplicationReading{true, "canceled", {}}) ==
        "b is not streaming from a (canceled)");
}

TEST_CASE("health: has a node converged (the final state)", "[unit]") {
  const NodeReading p{"a", true, false, 3, false};
  CHECK(converged_standby_problem(NodeReading{"b", true, true, 3, true}, p, true).empty());
  CHECK(converged_standby_problem(NodeReading{"b", false, false, 0, false}, p, true) == "b does not answer");
  CHECK(converged_standby_problem(NodeReading{"b", true, false, 3, false}, p, true) == "b is not in recovery");
  CHECK(converged_standby_problem(NodeReading{"b", true, true, 2, true}, p, true) == "b on timeline 2, primary on 3");
  CHECK(converged_standby_problem(NodeReading{"b", true, true, 3, false}, p, true) == "b is not streaming from a");
  // Shared disk: only a second primary counts.
  CHECK(converged_standby_problem(NodeReading{"b", false, false, 0, false}, p, false).empty());
  CHECK(converged_standby_problem(NodeReading{"b", true, false, 3, false}, p, false) ==
        "b answers as a second primary");
  CHECK(blocker_problems({{"b", "score"}}) == std::vector<std::string>{"b cannot take over: score"});
}
