#include "haverify/config/scenario.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"

namespace haverify {

const std::vector<std::string>& known_metrics() {
  static const std::vector<std::string> m = {"failover_s",
                                             "detect_s",
                                             "promote_s",
                                             "downtime_s",
                                             "lost_acked",
                                             "unknown_commits",
                                             "acked_total",
                                             "failed_writes",
                                             "p99_latency_ms",
                                             "lost_unknown",
                                             "failed_but_present",
                                             "split_brain_windows",
                                             "split_brain_s",
                                             "converged_s",
                                             "bank_ok",
                                             "injection_skew_ms",
                                             "max_rss_slope_mb_h",
                                             "max_rss_slope_lower_mb_h",
                                             "op_s",
                                             "stall_s"};
  return m;
}

const std::vector<std::string>& cluster_ops() {
  static const std::vector<std::string> v = {"switchover", "stop_node", "start_node", "rejoin",
                                             "rebuild",    "stop",      "start"};
  return v;
}

bool cluster_op_takes_node(const std::string& op) {
  return op == "stop_node" || op == "start_node" || op == "rejoin" || op == "rebuild";
}

bool valid_skip_condition(const std::string& c) {
  return c == "shared_disk" || c == "driver:pgpool" || c == "driver:pacemaker" || c == "driver:patroni" ||
         c == "driver:generic";
}

std::string FaultSpec::describe() const {
  std::string t = fmt::format("{}", fmt::join(targets, "+"));
  if (kind == "lan_cut") return fmt::format("lan_cut {} of {} ({})", lan, t, method);
  if (kind == "process_kill") return fmt::format("process_kill {} SIG{} on {}", process, signal, t);
  if (kind == "process_pause")
    return fmt::format("process_pause {} for {}ms on {}", process, pause ? pause->count() : 0, t);
  return fmt::format("{} {}", kind, t);
}

std::string Step::describe() const {
  switch (kind) {
    case StepKind::start:
      return "start " + workload;
    case StepKind::stop:
      return "stop " + workload;
    case StepKind::wait:
      return fmt::format("wait {}ms", duration.count());
    case StepKind::inject: {
      std::vector<std::string> d;
      for (const auto& f : faults) d.push_back(f.describe());
      return fmt::format("inject {}", fmt::join(d, " & "));
    }
    case StepKind::heal:
      return "heal " + heal_id;
    case StepKind::await_writes:
      return fmt::format("await_writes (timeout {}ms)", duration.count());
    case StepKind::recover:
      return fmt::format("recover (timeout {}ms)", duration.count());
    case StepKind::soak:
      return fmt::format("soak {}ms", duration.count());
    case StepKind::exec:
      return fmt::format("exec{} {} on {}: {}", exec.background ? " (background)" : "", exec.id, exec.target,
                         exec.command);
    case StepKind::maintenance:
      return fmt::format(
          "maintenance {}{}{}{}", maintenance.op, maintenance.table.empty() ? "" : " " + maintenance.table,
          maintenance.from.empty() ? "" : " from " + maintenance.from, maintenance.background ? " (background)" : "");
    case StepKind::cluster:
      return fmt::format("cluster {}{}{}{}", cluster.op, cluster.op == "switchover" ? " to " : "",
                         cluster.node.empty() || cluster.op == "switchover" ? cluster.node : " " + cluster.node,
                         cluster.skip_if.empty() ? "" : fmt::format(" (skip_if {})", fmt::join(cluster.skip_if, ", ")));
  }
  return "?";
}

bool Scenario::has_soak() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.kind == StepKind::soak; });
}

bool Scenario::has_cluster_steps() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.kind == StepKind::cluster; });
}

void Scenario::override_soak(std::chrono::milliseconds d) {
  for (auto& s : steps)
    if (s.kind == StepKind::soak) s.duration = d;
}

const Step* Scenario::first_inject() const {
  for (const auto& s : steps)
    if (s.kind == StepKind::inject && !s.faults.empty()) return &s;
  return nullptr;
}

const FaultSpec* Scenario::primary_fault() const {
  const Step* s = first_inject();
  return s ? &s->faults.front() : nullptr;
}

const std::vector<std::string>& process_selectors() {
  static const std::vector<std::string> v = {
      "postmaster",         "walreceiver",     "pgpool",          "corosync", "pacemakerd",
      "pacemaker-controld", "pacemaker-execd", "pacemaker-based", "patroni",  "etcd"};
  return v;
}

bool valid_process_selector(const std::string& s) {
  const auto& v = process_selectors();
  if (std::find(v.begin(), v.end(), s) != v.end()) return true;
  if (s.rfind("name:", 0) == 0) return s.size() > 5;
  if (s.rfind("pidfile:", 0) == 0) return s.size() > 8;
  return false;
}

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

FaultSpec read_fault(MapReader& r, ConfigContext& ctx) {
  FaultSpec f;
  f.line = r.node().Mark().line + 1;
  f.id = r.get_string("id", "");
  f.kind = r.req_string("fault");
  if (!f.kind.empty() && !kFaultKinds.count(f.kind)) {
    ctx.error(r.child("fault"), r.key_path("fault"),
              fmt::format("unknown fault kind '{}' (power_off, lan_cut, process_kill, process_pause)", f.kind));
  }
  f.targets = read_targets(r, ctx);
  f.duration = r.opt_duration("duration");
  if (f.kind == "lan_cut") {
    f.lan = r.req_string("lan");
    if (f.lan == "management")
      ctx.error(r.child("lan"), r.key_path("lan"),
                "the management LAN carries haverify's own control channel and cannot be cut");
    f.method = r.get_string("method", "link");
    if (f.method != "link" && f.method != "nft")
      ctx.error(r.child("method"), r.key_path("method"), "must be link or nft");
    f.direction = r.get_string("direction", "both");
    if (f.direction != "both" && f.direction != "in" && f.direction != "out")
      ctx.error(r.child("direction"), r.key_path("direction"), "must be both, in or out");
    if (f.method == "link" && f.direction != "both")
      ctx.error(r.child("direction"), r.key_path("direction"),
                "a link-down cut is always both ways; use method: nft for one direction");
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
      f.pause = r.opt_duration("pause");
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
  if (w == "all" || w == "standbys" || w == "pool")
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
  c.timeout = r.get_duration("timeout", c.timeout);
  if (c.timeout.count() < 1000) ctx.error(r.child("timeout"), r.key_path("timeout"), "must be at least 1s");
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
  const YAML::Node v = it->second;
  const std::string key = key_node.as<std::string>("");
  const std::string kpath = path + "." + key;
  auto scalar_or_error = [&](const char* what) -> std::string {
    if (!v.IsScalar()) {
      ctx.error(v.IsDefined() ? v : key_node, kpath, std::string("expected ") + what);
      return {};
    }
    return v.Scalar();
  };
  if (key == "start" || key == "stop") {
    s.kind = key == "start" ? StepKind::start : StepKind::stop;
    s.workload = scalar_or_error("a workload name (ledger, bank or maintenance)");
    if (!s.workload.empty() && s.workload != "ledger" && s.workload != "bank" && s.workload != "maintenance")
      ctx.error(v, kpath, fmt::format("unknown workload '{}' (ledger, bank or maintenance)", s.workload));
  } else if (key == "wait" || key == "soak") {
    s.kind = key == "wait" ? StepKind::wait : StepKind::soak;
    auto d = parse_duration(scalar_or_error("a duration"));
    if (!d) ctx.error(v, kpath, "expected a duration such as 500ms, 10s or 2m");
    s.duration = d.value_or(std::chrono::milliseconds(0));
  } else if (key == "exec") {
    s.kind = StepKind::exec;
    MapReader r(ctx, v, kpath);
    if (!r.valid()) {
      ctx.error(v, kpath, "expected a mapping with node and command");
    } else {
      s.exec.id = r.get_string("id", "");
      s.exec.target = r.req_string("node");
      s.exec.command = r.req_string("command");
      s.exec.background = r.get_bool("background", false);
      s.exec.timeout = r.get_duration("timeout", s.exec.timeout);
      if (s.exec.background && r.has("timeout"))
        ctx.error(r.child("timeout"), r.key_path("timeout"),
                  "a background command has no timeout (it is killed at the end of the run)");
      r.finish();
    }
  } else if (key == "maintenance") {
    s.kind = StepKind::maintenance;
    MapReader r(ctx, v, kpath);
    if (!r.valid()) {
      ctx.error(v, kpath, "expected a mapping with op");
    } else {
      s.maintenance.op = r.req_string("op");
      if (!s.maintenance.op.empty() && !valid_maintenance_op(s.maintenance.op))
        ctx.error(r.child("op"), r.key_path("op"),
                  "must be vacuum, vacuum_full, analyze, checkpoint, basebackup or churn");
      s.maintenance.table = r.get_string("table", "");
      s.maintenance.from = r.get_string("from", "");
      if (!s.maintenance.from.empty() && s.maintenance.op != "basebackup")
        ctx.error(r.child("from"), r.key_path("from"), "only a basebackup runs from a node");
      s.maintenance.background = r.get_bool("background", false);
      r.finish();
    }
  } else if (key == "cluster") {
    s.kind = StepKind::cluster;
    MapReader r(ctx, v, kpath);  // reports a value that is not a mapping
    if (r.valid()) s.cluster = read_cluster(r, ctx);
  } else if (key == "inject") {
    // One fault (a mapping) or several (a list of mappings) fired at once.
    s.kind = StepKind::inject;
    if (v.IsSequence()) {
      if (v.size() == 0) ctx.error(v, kpath, "the list of faults is empty");
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string fpath = fmt::format("{}[{}]", kpath, i);
        MapReader r(ctx, v[i], fpath);
        if (!r.valid())
          ctx.error(v[i], fpath, "expected a mapping with fault, target, ...");
        else
          s.faults.push_back(read_fault(r, ctx));
      }
    } else {
      MapReader r(ctx, v, kpath);
      if (!r.valid())
        ctx.error(v, kpath, "expected a mapping with fault, target, ... (or a list of them, fired at once)");
      else
        s.faults.push_back(read_fault(r, ctx));
    }
  } else if (key == "heal") {
    s.kind = StepKind::heal;
    s.heal_id = scalar_or_error("a fault id or 'all'");
  } else if (key == "await_writes" || key == "recover") {
    s.kind = key == "await_writes" ? StepKind::await_writes : StepKind::recover;
    MapReader r(ctx, v, kpath);
    s.duration = r.get_duration("timeout", std::chrono::milliseconds(key == "recover" ? 120000 : 60000));
    r.finish();
  } else {
    ctx.error(key_node, kpath,
              "unknown step (start, stop, wait, soak, inject, heal, await_writes, recover, exec, maintenance, "
              "cluster)");
  }
  return s;
}

YAML::Mark mark_of(const Step& s) {
  YAML::Mark m;
  m.line = s.line - 1;
  m.column = s.col - 1;
  return m;
}

}  // namespace

static Scenario parse_scenario_node(const YAML::Node& root, const std::string& name) {
  ConfigContext ctx(name);
  Scenario sc;
  sc.file = name;
  MapReader top(ctx, root, "");
  if (!top.valid()) {
    ctx.error(root, "(top level)", "a scenario must be a YAML mapping");
    ctx.throw_if_errors();
  }
  sc.name = top.get_string("name", std::filesystem::path(name).stem().string());
  sc.description = top.get_string("description", "");
  sc.kind = top.get_string("kind", "single-fault");
  static const std::set<std::string> kinds = {"normal", "single-fault", "multi-fault", "long-run", "switchover-timing"};
  if (!kinds.count(sc.kind))
    ctx.error(top.child("kind"), "kind", "must be normal, single-fault, multi-fault, long-run or switchover-timing");
  sc.repeat = static_cast<int>(top.get_int("repeat", 1));
  if (sc.repeat < 1) ctx.error(top.child("repeat"), "repeat", "must be at least 1");
  sc.setup_timeout = top.get_duration("setup_timeout", sc.setup_timeout);
  sc.converge_timeout = top.get_duration("converge_timeout", sc.converge_timeout);

  {
    MapReader w(ctx, top.child("workload"), "workload");
    if (w.valid()) {
      MapReader l(ctx, w.child("ledger"), "workload.ledger");
      if (l.valid() || w.has("ledger")) {
        LedgerOptions spec;
        spec.clients = static_cast<int>(l.get_int("clients", spec.clients));
        if (spec.clients < 1 || spec.clients > 256)
          ctx.error(l.child("clients"), "workload.ledger.clients", "must be between 1 and 256");
        spec.connect_deadline = l.get_duration("connect_deadline", spec.connect_deadline);
        spec.commit_deadline = l.get_duration("commit_deadline", spec.commit_deadline);
        sc.ledger = spec;
      }
      l.finish();
      MapReader b(ctx, w.child("bank"), "workload.bank");
      if (b.valid() || w.has("bank")) {
        BankOptions spec;
        spec.clients = static_cast<int>(b.get_int("clients", spec.clients));
        if (spec.clients < 1 || spec.clients > 256)
          ctx.error(b.child("clients"), "workload.bank.clients", "must be between 1 and 256");
        spec.accounts = static_cast<int>(b.get_int("accounts", spec.accounts));
        if (spec.accounts < 2 || spec.accounts > 100000)
          ctx.error(b.child("accounts"), "workload.bank.accounts", "must be between 2 and 100000");
        spec.connect_deadline = b.get_duration("connect_deadline", spec.connect_deadline);
        spec.commit_deadline = b.get_duration("commit_deadline", spec.commit_deadline);
        sc.bank = spec;
      }
      b.finish();
      MapReader m(ctx, w.child("maintenance"), "workload.maintenance");
      if (m.valid() || w.has("maintenance")) {
        MaintenanceOptions spec;
        spec.every = m.get_duration("every", spec.every);
        if (spec.every.count() < 100)
          ctx.error(m.child("every"), "workload.maintenance.every", "must be at least 100ms");
        YAML::Node ops = m.child("ops");
        if (ops.IsDefined() && !ops.IsNull()) {
          spec.ops.clear();
          if (!ops.IsSequence() || ops.size() == 0) {
            ctx.error(ops, "workload.maintenance.ops", "expected a non-empty list of operations");
          } else {
            for (const auto& o : ops) {
              const std::string op = o.IsScalar() ? o.Scalar() : std::string();
              if (!valid_maintenance_op(op))
                ctx.error(o, "workload.maintenance.ops",
                          "each operation is vacuum, vacuum_full, analyze, checkpoint, basebackup or churn");
              spec.ops.push_back(op);
            }
          }
        }
        spec.table = m.get_string("table", "");
        spec.via = m.get_string("via", spec.via);
        if (spec.via != "endpoint" && spec.via != "primary")
          ctx.error(m.child("via"), "workload.maintenance.via", "must be endpoint or primary");
        spec.basebackup_from = m.get_string("basebackup_from", spec.basebackup_from);
        spec.deadline = m.get_duration("deadline", spec.deadline);
        spec.bulk_rows = m.get_int("bulk_rows", 0);
        if (spec.bulk_rows < 0 || spec.bulk_rows > 100'000'000)
          ctx.error(m.child("bulk_rows"), "workload.maintenance.bulk_rows", "must be between 0 and 100000000");
        sc.maintenance = spec;
      }
      m.finish();
    }
    w.finish();
  }

  {
    MapReader r(ctx, top.child("sampler"), "sampler");
    if (r.valid() || top.has("sampler")) {
      SamplerOptions spec;
      spec.interval = r.get_duration("interval", spec.interval);
      if (spec.interval.count() < 100) ctx.error(r.child("interval"), "sampler.interval", "must be at least 100ms");
      YAML::Node procs = r.child("processes");
      if (procs.IsDefined() && !procs.IsNull()) {
        spec.processes.clear();
        if (!procs.IsSequence() || procs.size() == 0) {
          ctx.error(procs, "sampler.processes", "expected a non-empty list of process selectors");
        } else {
          for (const auto& p : procs) {
            const std::string sel = p.IsScalar() ? p.Scalar() : std::string();
            if (!valid_sampler_selector(sel))
              ctx.error(p, "sampler.processes",
                        "each is postgres, pgpool, corosync, pacemaker, patroni, etcd or name:<comm> (at most 15 "
                        "characters of [A-Za-z0-9._-])");
            spec.processes.push_back(sel);
          }
        }
      }
      spec.memory = r.get_string("memory", spec.memory);
      if (spec.memory != "anon" && spec.memory != "rss")
        ctx.error(r.child("memory"), "sampler.memory", "must be anon (RssAnon) or rss (VmRSS)");
      spec.warmup = r.get_duration("warmup", spec.warmup);
      spec.memory_growth_mb_per_hour = r.get_double("memory_growth_mb_per_hour", spec.memory_growth_mb_per_hour);
      spec.min_samples = static_cast<int>(r.get_int("min_samples", spec.min_samples));
      if (spec.min_samples < 3) ctx.error(r.child("min_samples"), "sampler.min_samples", "must be at least 3");
      sc.sampler = spec;
    }
    r.finish();
  }

  YAML::Node steps = top.child("steps");
  if (!steps.IsDefined() || !steps.IsSequence() || steps.size() == 0) {
    ctx.error(steps.IsDefined() ? steps : root, "steps", "expected a non-empty list of steps");
  } else {
    for (std::size_t i = 0; i < steps.size(); ++i) sc.steps.push_back(read_step(steps[i], i, ctx));
  }

  {
    YAML::Node checks = top.child("checks");
    MapReader c(ctx, checks, "checks");
    if (c.valid()) {
      const auto& known = known_metrics();
      for (auto it = checks.begin(); it != checks.end(); ++it) {
        const std::string metric = it->first.as<std::string>("");
        c.child(metric);
        if (std::find(known.begin(), known.end(), metric) == known.end()) {
          ctx.error(it->first, "checks." + metric, fmt::format("unknown metric (known: {})", fmt::join(known, ", ")));
          continue;
        }
        MapReader b(ctx, it->second, "checks." + metric);
        if (!b.valid()) {
          ctx.error(it->second, "checks." + metric, "expected a bound such as {max: 15}");
          continue;
        }
        Bound bound;
        bound.min = b.opt_double("min");
        bound.max = b.opt_double("max");
        if (!bound.min && !bound.max) ctx.error(it->second, "checks." + metric, "a bound needs min, max or both");
        if (bound.min && bound.max && *bound.min > *bound.max)
          ctx.error(it->second, "checks." + metric, "min is greater than max");
        b.finish();
        sc.checks[metric] = bound;
      }
    }
    c.finish();
  }
  top.finish();

  // Cross-step validation.
  std::set<std::string> ids, exec_ids;
  bool started = false, stopped_node = false, switched = false;
  for (const auto& s : sc.steps) {
    if (s.kind == StepKind::inject)
      for (const auto& f : s.faults)
        if (!f.id.empty() && !ids.insert(f.id).second)
          ctx.error_at(mark_of(s), "id", fmt::format("duplicate fault id '{}'", f.id));
    if (s.kind == StepKind::heal && s.heal_id != "all" && !ids.count(s.heal_id)) {
      ctx.error_at(mark_of(s), "heal", fmt::format("heals '{}' but no earlier inject step has that id", s.heal_id));
    }
    if (s.kind == StepKind::start) {
      if (s.workload == "ledger") {
        started = true;
        if (!sc.ledger) sc.ledger = LedgerOptions{};
      } else if (s.workload == "bank" && !sc.bank) {
        sc.bank = BankOptions{};
      } else if (s.workload == "maintenance" && !sc.maintenance) {
        sc.maintenance = MaintenanceOptions{};
      }
    }
    if (s.kind == StepKind::maintenance && !sc.maintenance) sc.maintenance = MaintenanceOptions{};
    if (s.kind == StepKind::exec && s.exec.background && !s.exec.id.empty()) {
      if (!exec_ids.insert(s.exec.id).second)
        ctx.error_at(mark_of(s), "exec.id", fmt::format("duplicate exec id '{}'", s.exec.id));
    }
    if (s.kind == StepKind::await_writes && !started)
      ctx.error_at(mark_of(s), "await_writes", "await_writes needs a workload started by an earlier step");
    if (s.kind == StepKind::cluster && s.cluster.node == "stopped" && !stopped_node)
      ctx.error_at(mark_of(s), "cluster.node", "'stopped' needs an earlier cluster step with op: stop_node");
    if (s.kind == StepKind::cluster && s.cluster.node == "previous_primary" && !switched)
      ctx.error_at(mark_of(s), "cluster.node", "'previous_primary' needs an earlier cluster step with op: switchover");
    if (s.kind == StepKind::cluster && s.cluster.op == "stop_node") stopped_node = true;
    if (s.kind == StepKind::cluster && s.cluster.op == "switchover") switched = true;
  }
  ctx.throw_if_errors();
  return sc;
}

Scenario parse_scenario(const std::string& yaml_text, const std::string& name) {
  return parse_scenario_node(load_yaml_string(yaml_text, name), name);
}

Scenario load_scenario(const std::string& path) {
  return parse_scenario_node(load_yaml_file(path), path);
}

}  // namespace haverify
