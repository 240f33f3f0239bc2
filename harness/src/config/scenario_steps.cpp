// Reading a scenario's steps: one function per step kind (docs/scenarios.md).
#include "scenario_steps.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace haverify::detail {

namespace {

const std::set<std::string> kFaultKinds = {"power_off", "lan_cut", "process_kill", "process_pause"};
const std::set<std::string> kSignals = {"KILL", "TERM", "INT", "QUIT", "STOP", "CONT", "HUP"};

std::vector<std::string> read_targets(MapReader& r, ConfigContext& ctx) {
  std::vector<std::string> out;
  YAML::Node t = r.child("target");
  if (!t.IsDefined() || t.IsNull()) {
    ctx.error(r.node(), r.key_path("target"), "required key is missing (a node name or a role)");
    return out;
  }
  if (t.IsScalar()) {
    out.push_back(t.Scalar());
  } else if (t.IsSequence()) {
    for (const auto& x : t) {
      if (!x.IsScalar()) {
        ctx.error(x, r.key_path("target"), "each target must be a node name or a role");
        continue;
      }
      out.push_back(x.Scalar());
    }
  } else {
    ctx.error(t, r.key_path("target"), "expected a node name, a role or a list of them");
  }
  if (out.empty() && t.IsSequence()) ctx.error(t, r.key_path("target"), "the target list is empty");
  return out;
}

// The peer of a cut: one word (a node name or a role); not `all` (a cut of
// the whole LAN needs no peer) and not the pgpool host (no LAN address of its
// own in the inventory's nodes).
bool valid_peer(const std::string& w) {
  if (w.rfind("standby:", 0) == 0)
    return w.size() > 8 && w.find_first_not_of("0123456789", 8) == std::string::npos &&
           w.substr(8).find_first_not_of('0') != std::string::npos;
  return w != "all" && w != "pool" && valid_name(w);
}

// lan_cut `self_heal: true` (with the `duration` it heals after) and
// `self_heal_arm`.
void read_self_heal(MapReader& r, ConfigContext& ctx, FaultSpec& f) {
  f.self_heal = r.get_bool("self_heal", false);
  f.self_heal_arm = r.get_duration("self_heal_arm", f.self_heal_arm,
                                   {std::chrono::milliseconds(100), std::chrono::milliseconds(10000)});
  if (f.self_heal && !f.duration)
    ctx.error(r.child("self_heal"), r.key_path("self_heal"),
              "a self-healing cut heals itself on the node after its `duration`: give one (e.g. duration: 20s)");
  if (r.has("self_heal_arm") && !f.self_heal)
    ctx.error(r.child("self_heal_arm"), r.key_path("self_heal_arm"), "only with self_heal: true");
}

FaultSpec read_fault(MapReader& r, ConfigContext& ctx) {
  FaultSpec f;
  f.line = r.node().Mark().line + 1;
  f.id = r.opt_name("id").value_or("");
  f.kind = r.req_string("fault");
  if (!f.kind.empty() && !kFaultKinds.count(f.kind)) {
    ctx.error(r.child("fault"), r.key_path("fault"),
              fmt::format("unknown fault kind '{}' (power_off, lan_cut, process_kill, process_pause)", f.kind));
  }
  f.targets = read_targets(r, ctx);
  f.duration = r.opt_duration("duration", kPositiveDuration);
  if (f.kind == "lan_cut") {
    f.lan = r.req_string("lan");
    f.port = r.opt_port("port");
    if (f.lan == "management" && !f.port)
      ctx.error(r.child("lan"), r.key_path("lan"),
                "the management LAN carries haverify's own control channel and cannot be cut (one port of it can: "
                "method: nft, port: 5432)");
    f.method = r.get_string("method", "link");
    if (f.port && f.method != "nft")
      ctx.error(r.child("port"), r.key_path("port"), "a cut of one port needs method: nft");
    if (f.method != "link" && f.method != "nft")
      ctx.error(r.child("method"), r.key_path("method"), "must be link or nft");
    f.direction = r.get_string("direction", "both");
    if (f.direction != "both" && f.direction != "in" && f.direction != "out")
      ctx.error(r.child("direction"), r.key_path("direction"), "must be both, in or out");
    if (f.method == "link" && f.direction != "both")
      ctx.error(r.child("direction"), r.key_path("direction"),
                "a link-down cut is always both ways; use method: nft for one direction");
    f.peer = r.get_string("peer", "");
    if (r.has("peer") && f.method != "nft")
      ctx.error(r.child("peer"), r.key_path("peer"), "a cut between two hosts needs method: nft");
    else if (r.has("peer") && !valid_peer(f.peer))
      ctx.error(r.child("peer"), r.key_path("peer"),
                fmt::format("'{}': expected one node name or role (primary, standby, standby:N, sync_standby, "
                            "standbys, pool_leader, pool_standby, pool_standbys)",
                            f.peer));
    read_self_heal(r, ctx, f);
  } else if (f.kind == "process_kill" || f.kind == "process_pause") {
    f.process = r.req_string("process");
    if (!f.process.empty() && !valid_process_selector(f.process)) {
      ctx.error(r.child("process"), r.key_path("process"),
                fmt::format("must be {}, name:<process name> or pidfile:<path>", fmt::join(process_selectors(), ", ")));
    }
    if (f.kind == "process_kill") {
      f.signal = r.get_string("signal", "KILL");
      if (f.signal.rfind("SIG", 0) == 0) f.signal = f.signal.substr(3);
      if (!kSignals.count(f.signal))
        ctx.error(r.child("signal"), r.key_path("signal"),
                  fmt::format("unsupported signal '{}' (KILL, TERM, INT, QUIT, STOP, CONT, HUP)", f.signal));
    } else {
      // SIGSTOP, then SIGCONT exactly `pause` later, timed on the node itself.
      f.pause = r.opt_duration("pause", kPositiveDuration);
      if (!f.pause) ctx.error(r.node(), r.key_path("pause"), "required key is missing (how long to pause, e.g. 500ms)");
    }
  }
  r.finish();
  return f;
}

// The node of a cluster step (`key` is node or to): one node, by name or
// by a word resolved when the step runs.
void check_cluster_node(MapReader& r, ConfigContext& ctx, const std::string& key, const ClusterStepSpec& c) {
  const std::string& w = c.node;
  if (w.empty()) return;  // missing: reported by req_string
  auto bad = [&](const std::string& why) { ctx.error(r.child(key), r.key_path(key), why); };
  if (w == "all" || w == "standbys" || w == "pool" || w.rfind("pool_", 0) == 0)
    bad(
        fmt::format("'{}': a cluster operation acts on one node: a node name, primary, standby, standby:N, "
                    "sync_standby, original_primary, previous_primary or stopped",
                    w));
  else if (w.rfind("standby:", 0) == 0 && (w.size() == 8 || w.find_first_not_of("0123456789", 8) != std::string::npos ||
                                           w.substr(8).find_first_not_of('0') == std::string::npos))
    bad(fmt::format("'{}': standby:N needs a number N >= 1 (the N-th standby in node-name order)", w));
  else if (c.op == "switchover" && (w == "primary" || w == "stopped"))
    bad(
        fmt::format("a switchover to '{}' promotes nothing: name a standby (standby, standby:N, sync_standby, a node "
                    "name, original_primary or previous_primary)",
                    w));
  else if (c.op == "stop_node" && w == "stopped")
    bad("'stopped' is the node the last stop_node stopped: stop_node needs a running node");
  else if (c.op == "rebuild" && w == "primary")
    bad("rebuild re-creates a standby from the primary: the primary itself cannot be rebuilt");
}

ClusterStepSpec read_cluster(MapReader& r, ConfigContext& ctx) {
  ClusterStepSpec c;
  c.op = r.req_string("op");
  const auto& ops = cluster_ops();
  const bool known = std::find(ops.begin(), ops.end(), c.op) != ops.end();
  if (!c.op.empty() && !known)
    ctx.error(r.child("op"), r.key_path("op"),
              fmt::format("unknown operation '{}' ({})", c.op, fmt::join(cluster_ops(), ", ")));
  if (c.op == "switchover") {
    c.node = r.req_string("to");
    check_cluster_node(r, ctx, "to", c);
    if (r.has("node")) ctx.error(r.child("node"), r.key_path("node"), "a switchover names its target with `to`");
  } else if (cluster_op_takes_node(c.op)) {
    c.node = r.req_string("node");
    check_cluster_node(r, ctx, "node", c);
    if (r.has("to")) ctx.error(r.child("to"), r.key_path("to"), "only a switchover has `to` (use node)");
  } else if (known) {
    for (const char* k : {"node", "to"})
      if (r.has(k)) ctx.error(r.child(k), r.key_path(k), fmt::format("`{}` acts on the whole cluster: no {}", c.op, k));
  }
  c.timeout = r.get_duration("timeout", c.timeout, {std::chrono::seconds(1), kMaxDuration});
  const YAML::Node skip = r.child("skip_if");
  if (skip.IsDefined() && !skip.IsNull()) {
    if (skip.IsScalar()) {
      c.skip_if.push_back(skip.Scalar());
    } else if (skip.IsSequence() && skip.size() > 0) {
      for (const auto& x : skip) c.skip_if.push_back(x.IsScalar() ? x.Scalar() : std::string());
    } else {
      ctx.error(skip, r.key_path("skip_if"), "expected a condition or a non-empty list of them");
    }
    for (const auto& cond : c.skip_if)
      if (!valid_skip_condition(cond))
        ctx.error(skip, r.key_path("skip_if"),
                  fmt::format("unknown condition '{}' (shared_disk, driver:pgpool, driver:pacemaker, driver:patroni, "
                              "driver:generic)",
                              cond));
  }
  r.finish();
  return c;
}

// One step's only key and its value, with where to report problems.
struct StepEntry {
  YAML::Node key_node;
  YAML::Node value;
  std::string key;
  std::string path;  // steps[i].<key>
  ConfigContext& ctx;

  // The value as a scalar, or "" after reporting that it should be `what`.
  std::string scalar_or_error(const char* what) const {
    if (!value.IsScalar()) {
      ctx.error(value.IsDefined() ? value : key_node, path, std::string("expected ") + what);
      return {};
    }
    return value.Scalar();
  }
};

// start / stop: a workload name.
void read_workload_step(const StepEntry& e, Step& s) {
  s.kind = e.key == "start" ? StepKind::start : StepKind::stop;
  s.workload = e.scalar_or_error("a workload name (ledger, bank, reads or maintenance)");
  if (!s.workload.empty() && s.workload != "ledger" && s.workload != "bank" && s.workload != "reads" &&
      s.workload != "maintenance")
    e.ctx.error(e.value, e.path, fmt::format("unknown workload '{}' (ledger, bank, reads or maintenance)", s.workload));
}

// wait / soak: a duration.
void read_duration_step(const StepEntry& e, Step& s) {
  s.kind = e.key == "wait" ? StepKind::wait : StepKind::soak;
  const std::string text = e.scalar_or_error("a duration");
  auto d = parse_duration(text);
  if (!d && !text.empty())
    e.ctx.error(e.value, e.path,
                fmt::format("expected a duration from 0ms to {} such as 500ms, 10s or 2m, got '{}'",
                            format_duration(kMaxDuration), text));
  s.duration = d.value_or(std::chrono::milliseconds(0));
}

void read_exec_step(const StepEntry& e, Step& s) {
  s.kind = StepKind::exec;
  MapReader r(e.ctx, e.value, e.path);
  if (!r.valid()) {
    e.ctx.error(e.value, e.path, "expected a mapping with node and command");
    return;
  }
  s.exec.id = r.opt_name("id").value_or("");
  s.exec.target = r.req_string("node");
  s.exec.command = r.req_string("command");
  s.exec.background = r.get_bool("background", false);
  s.exec.timeout = r.get_duration("timeout", s.exec.timeout, kPositiveDuration);
  if (s.exec.background && r.has("timeout"))
    e.ctx.error(r.child("timeout"), r.key_path("timeout"),
                "a background command has no timeout (it is killed at the end of the run)");
  r.finish();
}

void read_maintenance_step(const StepEntry& e, Step& s) {
  s.kind = StepKind::maintenance;
  MapReader r(e.ctx, e.value, e.path);
  if (!r.valid()) {
    e.ctx.error(e.value, e.path, "expected a mapping with op");
    return;
  }
  MaintenanceStepSpec& m = s.maintenance;
  m.op = r.req_string("op");
  if (!m.op.empty() && !valid_maintenance_op(m.op))
    e.ctx.error(r.child("op"), r.key_path("op"),
                "must be vacuum, vacuum_full, analyze, checkpoint, basebackup or churn");
  m.table = read_table(r, "");
  m.from = r.get_string("from", "");
  if (!m.from.empty() && m.op != "basebackup")
    e.ctx.error(r.child("from"), r.key_path("from"), "only a basebackup runs from a node");
  m.background = r.get_bool("background", false);
  r.finish();
}

void read_cluster_step(const StepEntry& e, Step& s) {
  s.kind = StepKind::cluster;
  MapReader r(e.ctx, e.value, e.path);  // reports a value that is not a mapping
  if (r.valid()) s.cluster = read_cluster(r, e.ctx);
}

// inject: one fault (a mapping) or several (a list of mappings) fired at once.
void read_inject_step(const StepEntry& e, Step& s) {
  s.kind = StepKind::inject;
  const YAML::Node& v = e.value;
  if (!v.IsSequence()) {
    MapReader r(e.ctx, v, e.path);
    if (!r.valid())
      e.ctx.error(v, e.path, "expected a mapping with fault, target, ... (or a list of them, fired at once)");
    else
      s.faults.push_back(read_fault(r, e.ctx));
    return;
  }
  if (v.size() == 0) e.ctx.error(v, e.path, "the list of faults is empty");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string fpath = fmt::format("{}[{}]", e.path, i);
    MapReader r(e.ctx, v[i], fpath);
    if (!r.valid())
      e.ctx.error(v[i], fpath, "expected a mapping with fault, target, ...");
    else
      s.faults.push_back(read_fault(r, e.ctx));
  }
}

void read_heal_step(const StepEntry& e, Step& s) {
  s.kind = StepKind::heal;
  s.heal_id = e.scalar_or_error("a fault id or 'all'");
}

// await_writes / recover: a timeout (recover: and how long health must hold).
void read_timeout_step(const StepEntry& e, Step& s) {
  const bool recover = e.key == "recover";
  s.kind = recover ? StepKind::recover : StepKind::await_writes;
  MapReader r(e.ctx, e.value, e.path);
  s.duration = r.get_duration("timeout", std::chrono::milliseconds(recover ? 120000 : 60000), kPositiveDuration);
  if (recover) {
    s.settle = r.get_duration("settle", s.settle);
    const std::string repair = r.get_string("repair", "forbidden");
    if (repair != "allowed" && repair != "forbidden")
      e.ctx.error(r.child("repair"), r.key_path("repair"),
                  "expected 'allowed' or 'forbidden' (whether haverify may repair the cluster without the run "
                  "failing: docs/scenarios.md)");
    s.repair_allowed = repair == "allowed";
  }
  r.finish();
}

using StepReader = void (*)(const StepEntry&, Step&);

// The reader of a step key; nullptr for an unknown step.
StepReader step_reader(const std::string& key) {
  static const std::pair<const char*, StepReader> kReaders[] = {
      {"start", read_workload_step},       {"stop", read_workload_step},   {"wait", read_duration_step},
      {"soak", read_duration_step},        {"exec", read_exec_step},       {"maintenance", read_maintenance_step},
      {"cluster", read_cluster_step},      {"inject", read_inject_step},   {"heal", read_heal_step},
      {"await_writes", read_timeout_step}, {"recover", read_timeout_step},
  };
  for (const auto& [k, reader] : kReaders)
    if (key == k) return reader;
  return nullptr;
}

}  // namespace

std::string read_table(MapReader& r, const std::string& fallback) {
  const auto t = r.opt_string("table");
  if (!t) return fallback;
  if (!valid_sql_table(*t)) {
    r.ctx().error(r.child("table"), r.key_path("table"),
                  fmt::format("'{}' is not a table name ([schema.]table: letters, digits and '_', not starting with a "
                              "digit, at most 63 each)",
                              *t));
    return fallback;
  }
  return *t;
}

Step read_step(const YAML::Node& node, std::size_t index, ConfigContext& ctx) {
  Step s;
  s.line = node.Mark().line + 1;
  s.col = node.Mark().column + 1;
  const std::string path = fmt::format("steps[{}]", index);
  if (!node.IsMap() || node.size() != 1) {
    ctx.error(node, path,
              "each step is a mapping with exactly one key: start, stop, wait, soak, inject, heal, "
              "await_writes, recover, exec, maintenance or cluster");
    return s;
  }
  auto it = node.begin();
  // Copies: yaml-cpp's iterator hands out temporaries.
  const YAML::Node key_node = it->first;
  const std::string key = key_node.as<std::string>("");
  const StepEntry e{key_node, it->second, key, path + "." + key, ctx};
  if (StepReader reader = step_reader(e.key))
    reader(e, s);
  else
    ctx.error(e.key_node, e.path,
              "unknown step (start, stop, wait, soak, inject, heal, await_writes, recover, exec, maintenance, "
              "cluster)");
  return s;
}

}  // namespace haverify::detail
