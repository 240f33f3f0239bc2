// Generating plans: the single- and multi-fault items of an inventory, their
// expected outcomes and bounds, and the scenario files and sheet they are
// written as (plan.cpp reads and writes sheets).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/control_paths.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/io/csv.hpp"

namespace fs = std::filesystem;

namespace haverify {

std::string stack_family(const Inventory& inv) {
  const std::string& d = inv.driver.type;
  if (d == "pgpool" || d == "pacemaker" || d == "patroni") return d;
  if (inv.stack == "pgrex" || inv.stack == "shared-disk" || inv.stack == "pacemaker") return "pacemaker";
  if (inv.stack == "patroni" || inv.stack == "pgpool") return inv.stack;
  return "generic";
}

std::vector<std::string> stack_processes(const Inventory& inv) {
  const std::string f = stack_family(inv);
  if (f == "pgpool") return {"postmaster", "pgpool"};
  if (f == "pacemaker") return {"postmaster", "corosync", "pacemakerd", "pacemaker-controld"};
  if (f == "patroni") return {"postmaster", "patroni", "etcd"};
  return {"postmaster"};
}

std::vector<std::string> role_targets(const Inventory& inv) {
  std::vector<std::string> out = {"primary"};
  const std::size_t standbys = inv.nodes.size() > 0 ? inv.nodes.size() - 1 : 0;
  if (standbys == 1) out.push_back("standby");
  if (standbys > 1)
    for (std::size_t i = 1; i <= standbys; ++i) out.push_back(fmt::format("standby:{}", i));
  return out;
}

namespace {

// Whether some PostgreSQL node has an interface on `lan`.
bool any_node_on(const Inventory& inv, const std::string& lan) {
  return std::any_of(inv.nodes.begin(), inv.nodes.end(), [&](const NodeSpec& n) { return n.interface_on(lan); });
}

std::string slug_of(const std::string& target) {
  std::string s = target;
  s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
  return s;
}

// What the stack's design promises (an outcome the expectation checker
// asserts; "unknown" where nothing is promised). Where a split brain is the
// known risk, the promise is still an outcome (the checkers judge the rest:
// single_writer sees two writable nodes).
std::string expect(const Inventory& inv, const std::string& family, const FaultSpec& f, const std::string& target) {
  if (target == kPoolNode) return "outage";  // one pgpool, no watchdog: the endpoint is gone
  // The watchdog leader's node may be a standby or the primary when the item
  // runs: either the VIP moves alone or the primary fails over with it.
  // Writes must resume within the bound either way (single_vip and
  // single_writer judge the rest). A pgpool alone: the VIP moves, or nothing.
  if (target == "pool_leader" || target == "pool_standby") {
    if (f.kind == "process_kill") return "no-failover";
    return target == "pool_leader" ? "failover-or-restart" : "unknown";
  }
  const bool primary = target == "primary";
  const std::string what = f.kind == "lan_cut" ? "lan:" + f.lan : f.kind == "process_kill" ? f.process : "power";
  // Membership lost both sides: the side without quorum stops its resources,
  // the other promotes (a split brain if it did not stop: single_writer).
  if (family == "pacemaker" && what == "lan:interconnect") return primary ? "failover" : "no-failover";
  if (!primary) return "no-failover";
  if (what == "power") return family == "generic" ? "unknown" : "failover";
  if (family == "pgpool") {
    if (what == "postmaster") return "failover";
    if (what == "lan:service") return "failover";  // pgpool promotes; the old primary stays writable (single_writer)
    return "no-failover";
  }
  if (family == "pacemaker") {
    if (what == "postmaster" || what == "pacemaker-controld") return "failover-or-restart";
    if (what == "corosync") return "failover";
    if (f.kind == "lan_cut") {
      const LanSpec* lan = inv.lan(f.lan);
      if (lan && lan->monitored) return "failover";  // a ping resource moves the primary off the cut node
    }
    if (what == "lan:service") return "outage";  // the VIP stays on an unreachable node
    return "no-failover";
  }
  if (family == "patroni") {
    if (what == "postmaster") return "local-restart";
    if (what == "patroni") return "failover";  // the leader key expires while PostgreSQL still runs (single_writer)
    if (what == "lan:interconnect") return "failover";
    if (what == "lan:service") return "outage";
    return "no-failover";
  }
  return "unknown";
}

std::map<std::string, Bound> bounds_for(const std::string& expected, double failover_max) {
  std::map<std::string, Bound> b;
  b["lost_acked"].min = 0;
  b["lost_acked"].max = 0;
  if (expected == "failover" || expected == "failover-or-restart" || expected == "local-restart")
    b["failover_s"].max = failover_max;
  if (expected == "no-failover") b["downtime_s"].max = 30;
  return b;
}

PlannedFault make_fault(const Inventory& inv, const std::string& kind, const std::string& target,
                        const std::string& lan, const std::string& process) {
  PlannedFault p;
  p.spec.kind = kind;
  p.spec.targets = {target};
  p.spec.lan = lan;
  p.spec.process = process;
  if (kind == "power_off") {
    p.slug = "power-off-" + slug_of(target);
    p.component = "node";
  } else if (kind == "lan_cut") {
    p.spec.method = "link";
    p.slug = fmt::format("cut-{}-{}", lan, slug_of(target));
    p.component = "lan:" + lan;
  } else {
    p.spec.signal = "KILL";
    p.slug = fmt::format("kill-{}-{}", process, slug_of(target));
    p.component = "process:" + process;
  }
  p.expected = expect(inv, stack_family(inv), p.spec, target);
  return p;
}

// Combined expectation: an outage when hard faults (power, postmaster) take
// out every PostgreSQL node, else the most telling of the parts.
std::string combine_expected(const Inventory& inv, const std::vector<PlannedFault>& faults) {
  std::set<std::string> down;
  for (const auto& f : faults)
    if (f.spec.kind == "power_off" || (f.spec.kind == "process_kill" && f.spec.process == "postmaster"))
      for (const auto& t : f.spec.targets) down.insert(t);
  if (down.size() >= inv.nodes.size() && !inv.nodes.empty()) return "outage";
  for (const char* e : {"outage", "failover", "failover-or-restart", "local-restart", "unknown"})
    for (const auto& f : faults)
      if (f.expected == e) return e;
  return "no-failover";
}

std::string join_or_dash(const std::vector<PlannedFault>& faults, std::string (*get)(const PlannedFault&)) {
  std::vector<std::string> parts;
  for (const auto& f : faults) {
    const std::string v = get(f);
    parts.push_back(v.empty() && faults.size() > 1 ? "-" : v);
  }
  return fmt::format("{}", fmt::join(parts, " & "));
}

void emit_fault(YAML::Emitter& y, const FaultSpec& f, const std::string& id) {
  y << YAML::Flow << YAML::BeginMap << YAML::Key << "id" << YAML::Value << id;
  y << YAML::Key << "fault" << YAML::Value << f.kind << YAML::Key << "target" << YAML::Value;
  if (f.targets.size() == 1)
    y << YAML::DoubleQuoted << f.targets[0];
  else
    y << YAML::Flow << f.targets;
  if (f.kind == "lan_cut") y << YAML::Key << "lan" << YAML::Value << f.lan << YAML::Key << "method" << f.method;
  if (f.kind == "lan_cut" && !f.peer.empty()) y << YAML::Key << "peer" << YAML::Value << YAML::DoubleQuoted << f.peer;
  if (f.self_heal)
    y << YAML::Key << "duration" << YAML::Value << fmt::format("{}ms", f.duration.value_or(kSelfHealingCut).count())
      << YAML::Key << "self_heal" << YAML::Value << true;
  if (f.kind == "process_kill")
    y << YAML::Key << "process" << YAML::Value << f.process << YAML::Key << "signal" << YAML::Value << f.signal;
  y << YAML::EndMap;
}

// steps: a one-key flow mapping each.
void emit_steps(YAML::Emitter& y, const PlanItem& item) {
  auto step = [&y](const char* key, const std::string& value) {
    y << YAML::BeginMap << YAML::Key << key << YAML::Value << value << YAML::EndMap;
  };
  auto timeout = [&y](const char* key, const char* value) {
    y << YAML::BeginMap << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "timeout"
      << YAML::Value << value << YAML::EndMap << YAML::EndMap;
  };
  y << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq;
  step("start", "ledger");
  step("wait", "5s");
  y << YAML::BeginMap << YAML::Key << "inject" << YAML::Value;
  if (item.faults.size() == 1) {
    emit_fault(y, item.faults[0].spec, "f1");
  } else {
    y << YAML::BeginSeq;  // fired at once
    for (std::size_t i = 0; i < item.faults.size(); ++i) emit_fault(y, item.faults[i].spec, fmt::format("f{}", i + 1));
    y << YAML::EndSeq;
  }
  y << YAML::EndMap;
  if (item.restart_cluster) {
    // Off for a while, then on; the cluster is started as after a real power loss.
    step("wait", "10s");
    step("heal", "all");
    y << YAML::BeginMap << YAML::Key << "cluster" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "op"
      << YAML::Value << "start" << YAML::Key << "timeout" << YAML::Value << "300s" << YAML::EndMap << YAML::EndMap;
    timeout("await_writes", "120s");
    timeout("recover", "120s");
    step("wait", "2s");
    step("stop", "ledger");
    y << YAML::EndSeq;
    return;
  }
  timeout("await_writes", "60s");
  step("wait", fmt::format("{}ms", item.hold.count()));
  step("heal", "all");
  timeout("recover", "120s");
  step("wait", "2s");
  step("stop", "ledger");
  y << YAML::EndSeq;
}

void emit_checks(YAML::Emitter& y, const std::map<std::string, Bound>& bounds) {
  y << YAML::Key << "checks" << YAML::Value << YAML::BeginMap;
  for (const auto& [m, b] : bounds) {
    y << YAML::Key << m << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (b.min) y << YAML::Key << "min" << YAML::Value << *b.min;
    if (b.max) y << YAML::Key << "max" << YAML::Value << *b.max;
    y << YAML::EndMap;
  }
  y << YAML::EndMap;
}

bool same_fault(const FaultSpec& a, const FaultSpec& b) {
  return a.kind == b.kind && a.targets == b.targets && a.lan == b.lan && a.process == b.process && a.peer == b.peer &&
         (a.kind != "lan_cut" || a.method == b.method) && (a.kind != "process_kill" || a.signal == b.signal) &&
         a.self_heal == b.self_heal && a.duration == b.duration;
}

// What was written must read back as the item: otherwise a value from the
// inventory (a LAN name, say) changed the document's meaning.
void check_reads_back(const std::string& yaml, const PlanItem& item, const std::string& description) {
  const std::string where = fmt::format("plan item '{}'", item.id);
  Scenario sc;
  try {
    sc = parse_scenario(yaml, item.id + ".yaml");
  } catch (const ConfigError& e) {
    throw PlanError({fmt::format("{}: the generated scenario does not read back: {}", where, e.what())});
  }
  const Step* inject = nullptr;
  for (const auto& s : sc.steps)
    if (s.kind == StepKind::inject) inject = &s;
  bool same = sc.name == item.id && sc.kind == item.kind && sc.description == description && inject &&
              inject->faults.size() == item.faults.size() && sc.checks.size() == item.bounds.size();
  for (std::size_t i = 0; same && i < item.faults.size(); ++i)
    same = same_fault(inject->faults[i], item.faults[i].spec);
  if (same && is_expectation_outcome(item.expected)) same = sc.expect && sc.expect->outcome == item.expected;
  for (const auto& [m, b] : item.bounds)
    same = same && sc.checks.count(m) && sc.checks.at(m).min == b.min && sc.checks.at(m).max == b.max;
  if (!same)
    throw PlanError(
        {fmt::format("{}: the generated scenario does not read back as the item (check the names in "
                     "the inventory: {})",
                     where, kNameRule)});
}

}  // namespace

std::vector<PlannedFault> single_faults(const Inventory& inv, const std::vector<std::string>& processes) {
  // LANs the PostgreSQL nodes have, in the order of lans:, never management.
  // A cut of one that carries haverify's SSH or probes to a node heals itself
  // on the node (docs/scenarios.md, "Self-healing cuts").
  std::set<std::string> control_lans;
  for (const auto& n : inv.nodes)
    for (const auto& p : control_paths(inv, n)) control_lans.insert(p.lan);
  std::vector<std::string> lans;
  const auto add = [&](const std::string& lan) {
    if (lan != "management" && std::find(lans.begin(), lans.end(), lan) == lans.end()) lans.push_back(lan);
  };
  for (const auto& l : inv.lans)
    if (any_node_on(inv, l.name)) add(l.name);
  for (const auto& n : inv.nodes)
    for (const auto& i : n.interfaces) add(i.lan);

  std::vector<PlannedFault> out;
  const auto targets = role_targets(inv);
  for (const auto& t : targets) out.push_back(make_fault(inv, "power_off", t, "", ""));
  // The watchdog leader's node, whichever role its PostgreSQL has: the VIP must move.
  if (inv.driver.watchdog) out.push_back(make_fault(inv, "power_off", "pool_leader", "", ""));
  for (const auto& p : processes) {
    if (p == "pgpool") {
      // pgpool runs on the pool host, or with a watchdog on the nodes: its
      // leader (the VIP moves) and one of its standbys.
      if (inv.driver.watchdog)
        for (const char* t : {"pool_leader", "pool_standby"}) out.push_back(make_fault(inv, "process_kill", t, "", p));
      else if (inv.node(kPoolNode))
        out.push_back(make_fault(inv, "process_kill", kPoolNode, "", p));
      continue;
    }
    for (const auto& t : targets) out.push_back(make_fault(inv, "process_kill", t, "", p));
  }
  for (const auto& l : lans)
    for (const auto& t : targets) {
      out.push_back(make_fault(inv, "lan_cut", t, l, ""));
      if (!control_lans.count(l)) continue;
      out.back().spec.self_heal = true;
      out.back().spec.duration = kSelfHealingCut;
    }
  // The leader cut from the clients' LAN: it gives the VIP up (trusted_servers).
  if (inv.driver.watchdog && std::find(lans.begin(), lans.end(), "service") != lans.end())
    out.push_back(make_fault(inv, "lan_cut", "pool_leader", "service", ""));
  return out;
}

bool combinable(const PlannedFault& a, const PlannedFault& b) {
  if (a.spec.targets != b.spec.targets) return true;
  return a.spec.kind != "power_off" && b.spec.kind != "power_off" && a.component != b.component;
}

static PlanItem make_item(const Inventory& inv, std::string id, std::string kind, std::vector<PlannedFault> faults) {
  PlanItem it;
  it.id = std::move(id);
  it.kind = std::move(kind);
  it.expected = faults.size() == 1 ? faults[0].expected : combine_expected(inv, faults);
  it.bounds = bounds_for(it.expected, faults.size() == 1 ? 30 : 60);
  it.faults = std::move(faults);
  return it;
}

std::vector<PlanItem> single_fault_plan(const Inventory& inv, const std::vector<std::string>& processes) {
  std::vector<PlanItem> out;
  for (const auto& f : single_faults(inv, processes)) out.push_back(make_item(inv, f.slug, "single-fault", {f}));
  return out;
}

// `power-all`: a site power loss. Every PostgreSQL node off in one step (the
// pool host has no power control in an inventory); the heal powers them on
// and the cluster is started as after a real one. No node serves meanwhile
// (an outage); nothing acknowledged may be lost, and the cluster must come back.
static PlanItem site_power_loss(const Inventory& inv) {
  PlannedFault all = make_fault(inv, "power_off", "primary", "", "");
  all.spec.targets = {"all"};
  all.slug = "power-off-all";
  PlanItem it = make_item(inv, "power-all", "multi-fault", {all});
  it.expected = "outage";
  it.bounds = bounds_for(it.expected, 60);
  it.restart_cluster = true;
  return it;
}

// The named watchdog items (pgpool with driver.watchdog), each held 20 s:
// - wd-leader-isolated: the leader pgpool loses the other two (the
//   interconnect carries the watchdog and its heartbeat). The two keep the
//   quorum and elect a new leader, which brings the VIP up; the old one,
//   without quorum, must give it up (single_vip: never two holders); the
//   primary stays (no false failover).
// - wd-primary-lost-alone: one pgpool (standby:1's node) loses the primary
//   while the others still reach it. Consensus refuses its failover request
//   (the backend is quarantined there), so the primary stays.
static void watchdog_items(const Inventory& inv, std::vector<PlanItem>& out) {
  if (any_node_on(inv, "interconnect")) {
    PlanItem it = make_item(inv, "wd-leader-isolated", "multi-fault",
                            {make_fault(inv, "lan_cut", "pool_leader", "interconnect", "")});
    it.expected = "no-failover";
    it.bounds = bounds_for(it.expected, 60);
    it.hold = std::chrono::seconds(20);
    out.push_back(std::move(it));
  }
  if (any_node_on(inv, "service") && inv.nodes.size() >= 3) {
    PlannedFault cut = make_fault(inv, "lan_cut", "standby:1", "service", "");
    cut.spec.method = "nft";
    cut.spec.peer = "primary";
    cut.slug = "cut-service-standby1-from-primary";
    cut.expected = "no-failover";
    PlanItem it = make_item(inv, "wd-primary-lost-alone", "multi-fault", {cut});
    it.hold = std::chrono::seconds(20);
    out.push_back(std::move(it));
  }
}

std::vector<PlanItem> multi_fault_plan(const Inventory& inv, const std::vector<std::string>& processes) {
  const auto singles = single_faults(inv, processes);
  std::vector<PlanItem> out;
  // The watchdog's roles are not paired: pool_leader may be any role's node
  // when the item runs (the named watchdog items below combine them).
  auto pool_role = [](const PlannedFault& f) { return f.spec.targets.at(0).rfind("pool_", 0) == 0; };
  for (std::size_t i = 0; i < singles.size(); ++i)
    for (std::size_t j = i + 1; j < singles.size(); ++j)
      if (combinable(singles[i], singles[j]) && !pool_role(singles[i]) && !pool_role(singles[j]))
        out.push_back(
            make_item(inv, singles[i].slug + "_x_" + singles[j].slug, "multi-fault", {singles[i], singles[j]}));
  // Named combinations.
  const std::string family = stack_family(inv);
  auto lan_present = [&](const std::string& lan) {
    return std::any_of(singles.begin(), singles.end(),
                       [&](const PlannedFault& f) { return f.component == "lan:" + lan; });
  };
  const std::vector<std::string> peers = inv.nodes.size() > 2 ? std::vector<std::string>{"primary", "standbys"}
                                                              : std::vector<std::string>{"primary", "standby"};
  if (lan_present("service") && lan_present("replication") && inv.nodes.size() >= 2) {
    // The primary loses its clients and, at once, its standbys lose replication.
    PlannedFault repl = make_fault(inv, "lan_cut", "primary", "replication", "");
    repl.spec.targets = peers;
    repl.expected = "failover";  // the standbys promote without the primary; it stays writable (single_writer)
    out.push_back(make_item(inv, "svc-primary_x_repl-both", "multi-fault",
                            {make_fault(inv, "lan_cut", "primary", "service", ""), repl}));
  }
  if (lan_present("interconnect") && inv.nodes.size() >= 2) {
    // Every node loses the cluster interconnect at once.
    PlannedFault ic = make_fault(inv, "lan_cut", "primary", "interconnect", "");
    ic.spec.targets = {"all"};
    // pgpool: the nodes keep serving; Pacemaker: no partition has quorum, every node stops its resources.
    ic.expected = family == "pgpool" ? "no-failover" : "outage";
    out.push_back(make_item(inv, "ic-all", "multi-fault", {ic}));
  }
  if (inv.driver.watchdog) watchdog_items(inv, out);
  out.push_back(site_power_loss(inv));
  return out;
}

std::string scenario_yaml(const PlanItem& item, const Inventory& inv) {
  std::vector<std::string> described;
  for (const auto& f : item.faults) described.push_back(f.spec.describe());
  const std::string description = fmt::format("{}; expected {}", fmt::join(described, " & "), item.expected);
  YAML::Emitter y;
  y << YAML::Comment(
           fmt::format("Generated by `haverify plan {}` from inventory {} (stack {}).", item.kind, inv.name, inv.stack))
    << YAML::Newline
    << YAML::Comment(
           fmt::format("Expected: {}. Edit freely; non-empty bounds in plan.csv replace checks:.", item.expected));
  y << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << item.id << YAML::Key << "kind" << YAML::Value << item.kind;
  y << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << description;
  y << YAML::Key << "repeat" << YAML::Value << 1;
  y << YAML::Key << "workload" << YAML::Value << YAML::BeginMap << YAML::Key << "ledger" << YAML::Value << YAML::Flow
    << YAML::BeginMap << YAML::Key << "clients" << YAML::Value << 4 << YAML::Key << "connect_deadline" << YAML::Value
    << "3s" << YAML::Key << "commit_deadline" << YAML::Value << "3s" << YAML::EndMap << YAML::EndMap;
  emit_steps(y, item);
  if (is_expectation_outcome(item.expected))
    y << YAML::Key << "expect" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "outcome" << YAML::Value
      << item.expected << YAML::EndMap;
  if (!item.bounds.empty()) emit_checks(y, item.bounds);
  y << YAML::EndMap;
  if (!y.good()) throw PlanError({fmt::format("plan item '{}': {}", item.id, y.GetLastError())});
  std::string text = std::string(y.c_str()) + "\n";
  check_reads_back(text, item, description);
  return text;
}

void write_plan(const std::string& dir, const std::vector<PlanItem>& items, const Inventory& inv, bool force) {
  const fs::path d(dir);
  const fs::path sheet = d / "plan.csv";
  if (fs::exists(sheet) && !force)
    throw std::runtime_error(fmt::format(
        "{} exists (it may hold results): pass --force to replace it, or --out another folder", sheet.string()));
  fs::create_directories(d);
  std::vector<PlanRow> rows;
  for (const auto& it : items) {
    // An id is a name (no '/'), so the file stays in the folder.
    if (!valid_name(it.id, kPlanIdMaxLen))
      throw PlanError(
          {fmt::format("plan item '{}': not a valid id ({} characters at most; {})", it.id, kPlanIdMaxLen, kNameRule)});
    const std::string file = it.id + ".yaml";
    {
      std::ofstream out(d / file, std::ios::trunc);
      out << scenario_yaml(it, inv);
      if (!out) throw std::runtime_error(fmt::format("cannot write {}", (d / file).string()));
    }
    PlanRow r;
    r.id = it.id;
    r.kind = it.kind;
    r.fault = join_or_dash(it.faults, [](const PlannedFault& f) { return f.spec.kind; });
    r.target_role = join_or_dash(
        it.faults, [](const PlannedFault& f) { return fmt::format("{}", fmt::join(f.spec.targets, "+")); });
    r.lan = join_or_dash(it.faults, [](const PlannedFault& f) { return f.spec.lan; });
    r.process = join_or_dash(it.faults, [](const PlannedFault& f) { return f.spec.process; });
    r.expected = it.expected;
    r.bounds = format_bounds(it.bounds);
    r.scenario_file = file;
    rows.push_back(std::move(r));
  }
  write_plan_csv(sheet.string(), rows);
}

}  // namespace haverify
