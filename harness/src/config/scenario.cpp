#include "haverify/config/scenario.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"
#include "scenario_steps.hpp"

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
                                             "restarts",
                                             "op_s",
                                             "stall_s",
                                             "maintenance_in_flight",
                                             "reads_ok",
                                             "reads_stale",
                                             "reads_stale_foreign",
                                             "read_staleness_ms",
                                             "vip_s",
                                             "dns_s",
                                             "vip_split_s"};
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
  if (kind == "lan_cut") {
    const std::string what = port ? fmt::format("{}:{}", lan, *port) : lan;
    const std::string with = peer.empty() ? "" : " with " + peer;
    return fmt::format("lan_cut {} of {}{} ({}{})", what, t, with, method, self_heal ? ", self-healing" : "");
  }
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

bool Scenario::has_await_writes() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.kind == StepKind::await_writes; });
}

const std::vector<std::string>& expectation_outcomes() {
  static const std::vector<std::string> o = {"failover", "no-failover", "local-restart", "failover-or-restart",
                                             "outage"};
  return o;
}

bool is_expectation_outcome(const std::string& outcome) {
  const auto& o = expectation_outcomes();
  return std::find(o.begin(), o.end(), outcome) != o.end();
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

std::optional<std::size_t> Scenario::inject_step_of(const std::string& fault_id) const {
  std::size_t k = 0;
  for (const auto& s : steps) {
    if (s.kind != StepKind::inject) continue;
    for (const auto& f : s.faults)
      if (f.id == fault_id) return k;
    ++k;
  }
  return std::nullopt;
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

YAML::Mark mark_of(const Step& s) {
  YAML::Mark m;
  m.line = s.line - 1;
  m.column = s.col - 1;
  return m;
}

// name, description, kind, repeat and the timeouts.
void read_header(MapReader& top, ConfigContext& ctx, const std::string& file, Scenario& sc) {
  sc.name = top.get_string("name", std::filesystem::path(file).stem().string());
  sc.description = top.get_string("description", "");
  sc.kind = top.get_string("kind", "single-fault");
  static const std::set<std::string> kinds = {"normal", "single-fault", "multi-fault", "long-run", "switchover-timing"};
  if (!kinds.count(sc.kind))
    ctx.error(top.child("kind"), "kind", "must be normal, single-fault, multi-fault, long-run or switchover-timing");
  sc.repeat = top.get_int("repeat", 1, 1, 100'000);
  sc.setup_timeout = top.get_duration("setup_timeout", sc.setup_timeout, kPositiveDuration);
  sc.converge_timeout = top.get_duration("converge_timeout", sc.converge_timeout, kPositiveDuration);
}

// clients: 1..256 of a workload.
int read_clients(MapReader& r, int fallback) {
  return r.get_int("clients", fallback, 1, 256);
}

void read_ledger(MapReader& w, ConfigContext& ctx, Scenario& sc) {
  MapReader l(ctx, w.child("ledger"), "workload.ledger");
  if (l.valid() || w.has("ledger")) {
    LedgerOptions spec;
    spec.clients = read_clients(l, spec.clients);
    spec.connect_deadline = l.get_duration("connect_deadline", spec.connect_deadline, kPositiveDuration);
    spec.commit_deadline = l.get_duration("commit_deadline", spec.commit_deadline, kPositiveDuration);
    sc.ledger = spec;
  }
  l.finish();
}

void read_bank(MapReader& w, ConfigContext& ctx, Scenario& sc) {
  MapReader b(ctx, w.child("bank"), "workload.bank");
  if (b.valid() || w.has("bank")) {
    BankOptions spec;
    spec.clients = read_clients(b, spec.clients);
    spec.accounts = b.get_int("accounts", spec.accounts, 2, 100'000);
    spec.connect_deadline = b.get_duration("connect_deadline", spec.connect_deadline, kPositiveDuration);
    spec.commit_deadline = b.get_duration("commit_deadline", spec.commit_deadline, kPositiveDuration);
    sc.bank = spec;
  }
  b.finish();
}

void read_reads(MapReader& w, ConfigContext& ctx, Scenario& sc) {
  MapReader r(ctx, w.child("reads"), "workload.reads");
  if (r.valid() || w.has("reads")) {
    ReadsOptions spec;
    const DurationRange ms_to_10s{std::chrono::milliseconds(1), std::chrono::milliseconds(10000)};
    spec.clients = read_clients(r, spec.clients);
    spec.connect_deadline = r.get_duration("connect_deadline", spec.connect_deadline, kPositiveDuration);
    spec.commit_deadline = r.get_duration("commit_deadline", spec.commit_deadline, kPositiveDuration);
    spec.reread_every = r.get_duration("reread_every", spec.reread_every, ms_to_10s);
    spec.reread_for = r.get_duration("reread_for", spec.reread_for, {std::chrono::milliseconds(0), kMaxDuration});
    spec.foreign_every = r.get_int("foreign_every", spec.foreign_every, 0, 1'000'000);
    spec.max_stale = r.get_int<std::int64_t>("max_stale", spec.max_stale, 0, INT64_MAX);
    spec.max_stale_foreign = r.get_int<std::int64_t>("max_stale_foreign", spec.max_stale_foreign, -1, INT64_MAX);
    spec.table = detail::read_table(r, spec.table);
    sc.reads = spec;
  }
  r.finish();
}

// A list of selectors (maintenance ops, sampler processes): each scalar
// that `valid` rejects is reported with `each_message`; a value that is not
// a non-empty list with `list_message`. Absent or null: `out` is kept.
template <typename Valid>
void read_word_list(MapReader& r, ConfigContext& ctx, const char* key, const std::string& path, Valid valid,
                    const char* list_message, const char* each_message, std::vector<std::string>& out) {
  YAML::Node list = r.child(key);
  if (!list.IsDefined() || list.IsNull()) return;
  out.clear();
  if (!list.IsSequence() || list.size() == 0) {
    ctx.error(list, path, list_message);
    return;
  }
  for (const auto& x : list) {
    const std::string word = x.IsScalar() ? x.Scalar() : std::string();
    if (!valid(word)) ctx.error(x, path, each_message);
    out.push_back(word);
  }
}

void read_maintenance(MapReader& w, ConfigContext& ctx, Scenario& sc) {
  MapReader m(ctx, w.child("maintenance"), "workload.maintenance");
  if (m.valid() || w.has("maintenance")) {
    MaintenanceOptions spec;
    spec.every = m.get_duration("every", spec.every, {std::chrono::milliseconds(100), kMaxDuration});
    read_word_list(m, ctx, "ops", "workload.maintenance.ops", valid_maintenance_op,
                   "expected a non-empty list of operations",
                   "each operation is vacuum, vacuum_full, analyze, checkpoint, basebackup or churn", spec.ops);
    spec.table = detail::read_table(m, "");
    spec.via = m.get_string("via", spec.via);
    if (spec.via != "endpoint" && spec.via != "primary")
      ctx.error(m.child("via"), "workload.maintenance.via", "must be endpoint or primary");
    spec.basebackup_from = m.get_string("basebackup_from", spec.basebackup_from);
    spec.deadline = m.get_duration("deadline", spec.deadline, kPositiveDuration);
    spec.bulk_rows = m.get_int<decltype(spec.bulk_rows)>("bulk_rows", 0, 0, 100'000'000);
    sc.maintenance = spec;
  }
  m.finish();
}

void read_workloads(MapReader& top, ConfigContext& ctx, Scenario& sc) {
  MapReader w(ctx, top.child("workload"), "workload");
  if (w.valid()) {
    read_ledger(w, ctx, sc);
    read_bank(w, ctx, sc);
    read_reads(w, ctx, sc);
    read_maintenance(w, ctx, sc);
  }
  w.finish();
}

void read_sampler(MapReader& top, ConfigContext& ctx, Scenario& sc) {
  MapReader r(ctx, top.child("sampler"), "sampler");
  if (r.valid() || top.has("sampler")) {
    SamplerOptions spec;
    const DurationRange at_least_100ms{std::chrono::milliseconds(100), kMaxDuration};
    spec.interval = r.get_duration("interval", spec.interval, at_least_100ms);
    spec.deadline = r.get_duration("deadline", spec.deadline, at_least_100ms);
    read_word_list(r, ctx, "processes", "sampler.processes", valid_sampler_selector,
                   "expected a non-empty list of process selectors",
                   "each is postgres, pgpool, corosync, pacemaker, patroni, etcd or name:<comm> (at most 15 "
                   "characters of [A-Za-z0-9._-])",
                   spec.processes);
    spec.memory = r.get_string("memory", spec.memory);
    if (spec.memory != "anon" && spec.memory != "rss")
      ctx.error(r.child("memory"), "sampler.memory", "must be anon (RssAnon) or rss (VmRSS)");
    spec.warmup = r.get_duration("warmup", spec.warmup);
    spec.memory_growth_mb_per_hour =
        r.get_double("memory_growth_mb_per_hour", spec.memory_growth_mb_per_hour, 0.0, 1e9);
    spec.min_samples = r.get_int("min_samples", spec.min_samples, 3, 10'000'000);
    spec.max_restarts = r.get_int("max_restarts", spec.max_restarts, 0, 1'000'000);
    spec.restart_grace = r.get_duration("restart_grace", spec.restart_grace);
    sc.sampler = spec;
  }
  r.finish();
}

void read_steps(MapReader& top, const YAML::Node& root, ConfigContext& ctx, Scenario& sc) {
  YAML::Node steps = top.child("steps");
  if (!steps.IsDefined() || !steps.IsSequence() || steps.size() == 0) {
    ctx.error(steps.IsDefined() ? steps : root, "steps", "expected a non-empty list of steps");
    return;
  }
  for (std::size_t i = 0; i < steps.size(); ++i) sc.steps.push_back(detail::read_step(steps[i], i, ctx));
}

// checks.<metric>: {min, max}; nullopt when it is not a mapping (reported).
std::optional<Bound> read_bound(const YAML::Node& node, ConfigContext& ctx, const std::string& path) {
  MapReader b(ctx, node, path);
  if (!b.valid()) {
    ctx.error(node, path, "expected a bound such as {max: 15}");
    return std::nullopt;
  }
  Bound bound;
  bound.min = b.opt_double("min");
  bound.max = b.opt_double("max");
  if (!bound.min && !bound.max) ctx.error(node, path, "a bound needs min, max or both");
  if (bound.min && bound.max && *bound.min > *bound.max) ctx.error(node, path, "min is greater than max");
  b.finish();
  return bound;
}

void read_checks(MapReader& top, ConfigContext& ctx, Scenario& sc) {
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
      if (auto bound = read_bound(it->second, ctx, "checks." + metric)) sc.checks[metric] = *bound;
    }
  }
  c.finish();
}

// expect: {outcome, resume_within, max_write_gap, min_outage}.
void read_expect(MapReader& top, ConfigContext& ctx, Scenario& sc) {
  MapReader r(ctx, top.child("expect"), "expect");
  if (r.valid() || top.has("expect")) {
    Expectation e;
    e.outcome = r.get_string("outcome", "");
    if (!is_expectation_outcome(e.outcome))
      ctx.error(r.child("outcome").IsDefined() ? r.child("outcome") : top.child("expect"), "expect.outcome",
                fmt::format("expected one of {} (split-brain-risk is no outcome to sign off: say which outcome the "
                            "stack's design promises, and the checkers judge it)",
                            fmt::join(expectation_outcomes(), ", ")));
    e.resume_within = r.get_duration("resume_within", e.resume_within);
    e.max_write_gap = r.get_duration("max_write_gap", e.max_write_gap);
    e.min_outage = r.get_duration("min_outage", e.min_outage);
    sc.expect = e;
  }
  r.finish();
}

// A workload started by a step without a workload: block runs with its defaults.
void default_workloads(const Step& s, Scenario& sc) {
  if (s.kind == StepKind::start) {
    if (s.workload == "ledger" && !sc.ledger)
      sc.ledger = LedgerOptions{};
    else if (s.workload == "bank" && !sc.bank)
      sc.bank = BankOptions{};
    else if (s.workload == "reads" && !sc.reads)
      sc.reads = ReadsOptions{};
    else if (s.workload == "maintenance" && !sc.maintenance)
      sc.maintenance = MaintenanceOptions{};
  }
  if (s.kind == StepKind::maintenance && !sc.maintenance) sc.maintenance = MaintenanceOptions{};
}

// What the steps refer to is declared by an earlier step: fault ids, exec
// ids, a started workload, a stopped node, a switchover.
void check_steps(ConfigContext& ctx, const Scenario& sc) {
  std::set<std::string> ids, exec_ids;
  bool started = false, stopped_node = false, switched = false;
  for (const auto& s : sc.steps) {
    if (s.kind == StepKind::inject)
      for (const auto& f : s.faults)
        if (!f.id.empty() && !ids.insert(f.id).second)
          ctx.error_at(mark_of(s), "id", fmt::format("duplicate fault id '{}'", f.id));
    if (s.kind == StepKind::heal && s.heal_id != "all" && !ids.count(s.heal_id))
      ctx.error_at(mark_of(s), "heal", fmt::format("heals '{}' but no earlier inject step has that id", s.heal_id));
    if (s.kind == StepKind::start && s.workload == "ledger") started = true;
    if (s.kind == StepKind::exec && s.exec.background && !s.exec.id.empty() && !exec_ids.insert(s.exec.id).second)
      ctx.error_at(mark_of(s), "exec.id", fmt::format("duplicate exec id '{}'", s.exec.id));
    if (s.kind == StepKind::await_writes && !started)
      ctx.error_at(mark_of(s), "await_writes", "await_writes needs a workload started by an earlier step");
    if (s.kind == StepKind::cluster && s.cluster.node == "stopped" && !stopped_node)
      ctx.error_at(mark_of(s), "cluster.node", "'stopped' needs an earlier cluster step with op: stop_node");
    if (s.kind == StepKind::cluster && s.cluster.node == "previous_primary" && !switched)
      ctx.error_at(mark_of(s), "cluster.node", "'previous_primary' needs an earlier cluster step with op: switchover");
    if (s.kind == StepKind::cluster && s.cluster.op == "stop_node") stopped_node = true;
    if (s.kind == StepKind::cluster && s.cluster.op == "switchover") switched = true;
  }
}

Scenario parse_scenario_node(const YAML::Node& root, const std::string& name) {
  ConfigContext ctx(name);
  Scenario sc;
  sc.file = name;
  MapReader top(ctx, root, "");
  if (!top.valid()) {
    ctx.error(root, "(top level)", "a scenario must be a YAML mapping");
    ctx.throw_if_errors();
  }
  read_header(top, ctx, name, sc);
  read_workloads(top, ctx, sc);
  read_sampler(top, ctx, sc);
  read_steps(top, root, ctx, sc);
  read_checks(top, ctx, sc);
  read_expect(top, ctx, sc);
  sc.measure_from = top.get_string("measure_from", "");
  if (top.has("measure_from") && !sc.inject_step_of(sc.measure_from))
    ctx.error(top.child("measure_from"), "measure_from",
              fmt::format("no inject step has a fault with id '{}' (give the fault an id: and name it here)",
                          sc.measure_from));
  top.finish();
  for (const auto& s : sc.steps) default_workloads(s, sc);
  check_steps(ctx, sc);
  ctx.throw_if_errors();
  return sc;
}

}  // namespace

Scenario parse_scenario(const std::string& yaml_text, const std::string& name) {
  return parse_scenario_node(load_yaml_string(yaml_text, name), name);
}

Scenario load_scenario(const std::string& path) {
  return parse_scenario_node(load_yaml_file(path), path);
}

}  // namespace haverify
