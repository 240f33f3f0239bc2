#include "haverify/config/plan.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/io/csv.hpp"
#include "haverify/io/csv_read.hpp"

namespace fs = std::filesystem;

namespace haverify {

PlanError::PlanError(std::vector<std::string> problems)
    : UsageError(fmt::format("{}", fmt::join(problems, "\n"))), problems_(std::move(problems)) {}

const std::vector<std::string>& plan_header() {
  static const std::vector<std::string> h = {"id",         "kind",       "fault",  "target_role",   "lan",
                                             "process",    "expected",   "bounds", "scenario_file", "verdict",
                                             "failover_s", "lost_acked", "reason", "run_dir",       "seed"};
  return h;
}

std::vector<std::string> plan_fields(const PlanRow& r) {
  return {r.id,         r.kind,       r.fault,  r.target_role,   r.lan,
          r.process,    r.expected,   r.bounds, r.scenario_file, r.verdict,
          r.failover_s, r.lost_acked, r.reason, r.run_dir,       r.seed};
}

void write_plan_csv(const std::string& path, const std::vector<PlanRow>& rows) {
  // Written next to the target, then renamed: a crash never leaves half a sheet.
  const std::string tmp = path + ".tmp";
  {
    reports::CsvWriter w(tmp, plan_header());
    for (auto r : rows) {
      // One record per line: the reader does not take line breaks in fields.
      std::replace(r.reason.begin(), r.reason.end(), '\n', ' ');
      std::replace(r.reason.begin(), r.reason.end(), '\r', ' ');
      w.row(plan_fields(r));
    }
    w.flush();
  }
  fs::rename(tmp, path);
}

// ---------------------------------------------------------------- bounds

static std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::map<std::string, Bound> parse_bounds(const std::string& text) {
  std::map<std::string, Bound> out;
  if (trim(text) == "none") return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t semi = text.find(';', start);
    const std::string term = trim(text.substr(start, semi == std::string::npos ? std::string::npos : semi - start));
    start = semi == std::string::npos ? text.size() + 1 : semi + 1;
    if (term.empty()) {
      if (semi == std::string::npos && !out.empty()) break;  // a trailing ';'
      throw std::invalid_argument("empty bound (write metric<=x;metric>=y;metric==z, or none)");
    }
    const auto op_at = term.find_first_of("<>=");
    if (op_at == std::string::npos || op_at + 2 > term.size() || term[op_at + 1] != '=')
      throw std::invalid_argument(fmt::format("'{}': expected metric<=x, metric>=x or metric==x", term));
    const std::string metric = trim(term.substr(0, op_at));
    const std::string op = term.substr(op_at, 2);
    const std::string num = trim(term.substr(op_at + 2));
    const auto& known = known_metrics();
    if (std::find(known.begin(), known.end(), metric) == known.end())
      throw std::invalid_argument(
          fmt::format("'{}': unknown metric '{}' (known: {})", term, metric, fmt::join(known, ", ")));
    double v = 0;
    std::size_t used = 0;
    try {
      v = std::stod(num, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (num.empty() || used != num.size())
      throw std::invalid_argument(fmt::format("'{}': '{}' is not a number", term, num));
    Bound& b = out[metric];
    if ((op != ">=" && b.max) || (op != "<=" && b.min))
      throw std::invalid_argument(fmt::format("'{}': {} is bounded twice on the same side", term, metric));
    if (op == "<=" || op == "==") b.max = v;
    if (op == ">=" || op == "==") b.min = v;
    if (b.min && b.max && *b.min > *b.max)
      throw std::invalid_argument(fmt::format("'{}': the lower bound of {} is above its upper bound", term, metric));
  }
  return out;
}

std::string format_bounds(const std::map<std::string, Bound>& bounds) {
  std::vector<std::string> terms;
  for (const auto& [m, b] : bounds) {
    if (b.min && b.max && *b.min == *b.max) {
      terms.push_back(fmt::format("{}=={:g}", m, *b.max));
      continue;
    }
    if (b.min) terms.push_back(fmt::format("{}>={:g}", m, *b.min));
    if (b.max) terms.push_back(fmt::format("{}<={:g}", m, *b.max));
  }
  return terms.empty() ? "none" : fmt::format("{}", fmt::join(terms, ";"));
}

// ---------------------------------------------------------------- reading a sheet

std::vector<PlanRow> read_plan_csv(const std::string& path, std::vector<Scenario>* scenarios) {
  reports::CsvTable t;
  try {
    t = reports::read_csv_table(path);
  } catch (const reports::CsvReadError& e) {
    throw PlanError({e.what()});
  }
  std::vector<std::string> problems;
  const auto& want = plan_header();
  for (const auto& c : want)
    if (t.column(c) < 0)
      problems.push_back(fmt::format("{}:1: column {}: missing from the header (plan.csv columns: {})", path, c,
                                     fmt::join(want, ",")));
  for (const auto& c : t.header)
    if (std::find(want.begin(), want.end(), c) == want.end())
      problems.push_back(
          fmt::format("{}:1: column {}: unknown column (plan.csv columns: {})", path, c, fmt::join(want, ",")));
  if (!problems.empty()) throw PlanError(problems);

  static const std::set<std::string> kinds = {"normal", "single-fault", "multi-fault", "long-run", "switchover-timing"};
  const fs::path base = fs::path(path).parent_path();
  std::vector<PlanRow> rows;
  std::map<std::string, unsigned> ids;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto& cells = t.rows[i];
    auto cell = [&](const char* c) { return cells[static_cast<std::size_t>(t.column(c))]; };
    PlanRow r{cell("id"),         cell("kind"),       cell("fault"),  cell("target_role"),   cell("lan"),
              cell("process"),    cell("expected"),   cell("bounds"), cell("scenario_file"), cell("verdict"),
              cell("failover_s"), cell("lost_acked"), cell("reason"), cell("run_dir"),       cell("seed"),
              t.lines[i]};
    const auto bad = [&](const char* column, const std::string& msg) {
      problems.push_back(fmt::format("{}:{}: column {}: {}", path, r.line, column, msg));
    };
    const bool safe_id = !r.id.empty() && std::all_of(r.id.begin(), r.id.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
    if (!safe_id) bad("id", fmt::format("'{}' is not an id (letters, digits, '-', '_', '.')", r.id));
    if (auto [it, fresh] = ids.emplace(r.id, r.line); !fresh && !r.id.empty())
      bad("id", fmt::format("duplicate id '{}' (first on line {})", r.id, it->second));
    if (!kinds.count(r.kind))
      bad("kind",
          fmt::format("unknown kind '{}' (single-fault, multi-fault, normal, long-run, switchover-timing)", r.kind));
    if (!r.expected.empty() && r.expected != "unknown" && r.expected != "-" && !is_expectation_outcome(r.expected))
      bad("expected", fmt::format("'{}' is not an outcome ({}; or unknown: nothing asserted){}", r.expected,
                                  fmt::join(expectation_outcomes(), ", "),
                                  r.expected == "split-brain-risk"
                                      ? ": a split-brain risk is not signed off, write the outcome the stack's "
                                        "design promises and the checkers judge it"
                                      : ""));
    std::optional<std::map<std::string, Bound>> bounds;
    if (!trim(r.bounds).empty()) {
      try {
        bounds = parse_bounds(r.bounds);
      } catch (const std::invalid_argument& e) {
        bad("bounds", e.what());
      }
    }
    if (r.scenario_file.empty()) {
      bad("scenario_file", "empty (the scenario .yaml to run, relative to the sheet's folder)");
    } else {
      const fs::path file =
          fs::path(r.scenario_file).is_absolute() ? fs::path(r.scenario_file) : base / r.scenario_file;
      if (!fs::is_regular_file(file)) {
        bad("scenario_file", fmt::format("no such file {}", file.string()));
      } else {
        try {
          Scenario sc = load_scenario(file.string());
          sc.name = r.id;  // rows sharing a scenario file stay apart in the results
          if (kinds.count(r.kind)) sc.kind = r.kind;
          if (bounds) sc.checks = *bounds;           // the sheet's bounds replace the scenario's checks
          if (is_expectation_outcome(r.expected)) {  // the sheet's expected outcome is asserted
            if (!sc.expect) sc.expect = Expectation{};
            sc.expect->outcome = r.expected;
          }
          if (scenarios) scenarios->push_back(std::move(sc));
        } catch (const ConfigError& e) {
          for (const auto& issue : e.issues()) bad("scenario_file", issue.str());
        }
      }
    }
    rows.push_back(std::move(r));
  }
  if (!problems.empty()) throw PlanError(problems);
  return rows;
}

// ---------------------------------------------------------------- generating

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

std::string yaml_fault(const FaultSpec& f, const std::string& id) {
  std::vector<std::string> targets;
  for (const auto& t : f.targets) targets.push_back(fmt::format("\"{}\"", t));
  std::string out = fmt::format("{{id: {}, fault: {}, target: {}", id, f.kind,
                                targets.size() == 1 ? targets[0] : fmt::format("[{}]", fmt::join(targets, ", ")));
  if (f.kind == "lan_cut") out += fmt::format(", lan: {}, method: {}", f.lan, f.method);
  if (f.kind == "process_kill") out += fmt::format(", process: {}, signal: {}", f.process, f.signal);
  return out + "}";
}

}  // namespace

std::vector<PlannedFault> single_faults(const Inventory& inv, const std::vector<std::string>& processes) {
  // LANs the PostgreSQL nodes have, in the order of lans:, never management.
  std::vector<std::string> lans;
  auto has_lan = [&](const std::string& lan) {
    return std::any_of(inv.nodes.begin(), inv.nodes.end(), [&](const NodeSpec& n) { return n.interface_on(lan); });
  };
  for (const auto& l : inv.lans)
    if (l.name != "management" && has_lan(l.name)) lans.push_back(l.name);
  for (const auto& n : inv.nodes)
    for (const auto& i : n.interfaces)
      if (i.lan != "management" && std::find(lans.begin(), lans.end(), i.lan) == lans.end()) lans.push_back(i.lan);

  std::vector<PlannedFault> out;
  const auto targets = role_targets(inv);
  for (const auto& t : targets) out.push_back(make_fault(inv, "power_off", t, "", ""));
  for (const auto& p : processes) {
    if (p == "pgpool") {
      // pgpool runs on the pool host, not on the PostgreSQL nodes.
      if (inv.node(kPoolNode)) out.push_back(make_fault(inv, "process_kill", kPoolNode, "", p));
      continue;
    }
    for (const auto& t : targets) out.push_back(make_fault(inv, "process_kill", t, "", p));
  }
  for (const auto& l : lans)
    for (const auto& t : targets) out.push_back(make_fault(inv, "lan_cut", t, l, ""));
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

std::vector<PlanItem> multi_fault_plan(const Inventory& inv, const std::vector<std::string>& processes) {
  const auto singles = single_faults(inv, processes);
  std::vector<PlanItem> out;
  for (std::size_t i = 0; i < singles.size(); ++i)
    for (std::size_t j = i + 1; j < singles.size(); ++j)
      if (combinable(singles[i], singles[j]))
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
  return out;
}

std::string scenario_yaml(const PlanItem& item, const Inventory& inv) {
  std::vector<std::string> described;
  for (const auto& f : item.faults) described.push_back(f.spec.describe());
  std::string y = fmt::format(
      "# Generated by `haverify plan {}` from inventory {} (stack {}).\n"
      "# Expected: {}. Edit freely; non-empty bounds in plan.csv replace checks:.\n"
      "name: {}\n"
      "kind: {}\n"
      "description: \"{}; expected {}\"\n"
      "repeat: 1\n"
      "workload:\n"
      "  ledger: {{clients: 4, connect_deadline: 3s, commit_deadline: 3s}}\n"
      "steps:\n"
      "  - start: ledger\n"
      "  - wait: 5s\n",
      item.kind, inv.name, inv.stack, item.expected, item.id, item.kind, fmt::join(described, " & "), item.expected);
  if (item.faults.size() == 1) {
    y += fmt::format("  - inject: {}\n", yaml_fault(item.faults[0].spec, "f1"));
  } else {
    y += "  - inject:  # fired at once\n";
    for (std::size_t i = 0; i < item.faults.size(); ++i)
      y += fmt::format("      - {}\n", yaml_fault(item.faults[i].spec, fmt::format("f{}", i + 1)));
  }
  y += "  - await_writes: {timeout: 60s}\n"
       "  - wait: 5s\n"
       "  - heal: all\n"
       "  - recover: {timeout: 120s}\n"
       "  - wait: 2s\n"
       "  - stop: ledger\n";
  if (is_expectation_outcome(item.expected)) y += fmt::format("expect: {{outcome: {}}}\n", item.expected);
  if (!item.bounds.empty()) {
    y += "checks:\n";
    for (const auto& [m, b] : item.bounds) {
      std::vector<std::string> parts;
      if (b.min) parts.push_back(fmt::format("min: {:g}", *b.min));
      if (b.max) parts.push_back(fmt::format("max: {:g}", *b.max));
      y += fmt::format("  {}: {{{}}}\n", m, fmt::join(parts, ", "));
    }
  }
  return y;
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
