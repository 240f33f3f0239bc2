#include "haverify/run/preflight.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "faults/fault.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/transport.hpp"
#include "haverify/run/lab.hpp"

namespace fs = std::filesystem;

namespace haverify {

namespace {

// Empty when commands on `n` run as root; else what is wrong and how to fix it.
std::string root_problem(const NodeSpec& n, const ExecResult& r) {
  const std::string who = fmt::format("node {}: SSH to {}@{}:{}", n.name, n.ssh.user, n.ssh.host, n.ssh.port);
  const bool sudo = uses_sudo(n.ssh);
  if (!r.ok()) {
    if (sudo)
      return fmt::format(
          "{} connected but `sudo -n` failed: {}; haverify needs {} to run any command as root without a "
          "password (e.g. /etc/sudoers.d/haverify: `{} ALL=(root) NOPASSWD: ALL`, docs/inventory.md \"Real "
          "clusters\")",
          who, describe(r), n.ssh.user, n.ssh.user);
    return fmt::format("{} connected but `id -u` failed: {}", who, describe(r));
  }
  std::string uid = r.out.substr(0, r.out.find('\n'));  // its first line
  while (!uid.empty() && (uid.back() == '\r' || uid.back() == ' ')) uid.pop_back();
  if (uid == "0") return {};
  return fmt::format(
      "{}: commands run as uid {}, not root{}; faults, heals and the drivers need root: set ssh.become: sudo "
      "for this node (docs/inventory.md \"Real clusters\")",
      who, uid, sudo ? " (sudo did not switch to root)" : "");
}

// Empty when the node's power controller reads its power (on or off); else
// what it answered. Nothing to read: no controller, or command with verify: none.
std::string power_problem(const Inventory& inv, const NodeSpec& n, TransportPool& pool,
                          std::chrono::milliseconds deadline, std::string& cell) {
  const PowerSpec& p = n.power;
  cell = p.controller == "command" && p.verify == "none" ? "not read (verify: none)" : "-";
  if (p.controller == "none" || (p.controller == "command" && p.verify == "none")) return {};
  const std::string via =
      p.controller == "ipmi" ? fmt::format(" (ipmi {}:{})", p.bmc, p.bmc_port) : fmt::format(" ({})", p.controller);
  const std::string what = "power controller" + via;
  try {
    const faults::PowerCommands pc = faults::power_commands(inv, n);
    const ExecResult r = pool.run(pc.where, n.name, pc.status_is_off, deadline);
    cell = "unreadable" + via;
    if (r.error.empty() && !r.timed_out && (r.exit_code == 0 || r.exit_code == 1)) {
      cell = (r.exit_code == 0 ? "off" : "on") + via;
      return {};
    }
    return fmt::format(
        "node {}: its {} cannot read the node's power: {}; haverify could neither verify a power-off nor tell what "
        "to power on (docs/inventory.md \"Power controllers\")",
        n.name, what, describe(r));
  } catch (const std::exception& e) {
    return fmt::format("node {}: its {}: {}", n.name, what, e.what());
  }
}

// What to set when pg_ctl is not in postgres.bin_dir: the PostgreSQL bin
// directories found on the node (Debian's and the PGDG RHEL packages').
std::string pg_bin_hint(const std::vector<std::string>& found) {
  std::string hint =
      "; postgres.bin_dir is PostgreSQL's bin directory on the node (postgres.layout: debian gives "
      "/usr/lib/postgresql/<major>/bin, rhel /usr/pgsql-<major>/bin; postgres.major: 15 by default)";
  if (found.empty()) return hint + "; the node has neither";
  return hint + fmt::format("; the node has {}", fmt::join(found, ", "));
}

// "nft|iptables" as people read it: "nft or iptables".
std::string alternatives(std::string tools) {
  for (std::size_t at = tools.find('|'); at != std::string::npos; at = tools.find('|', at))
    tools.replace(at, 1, " or ");
  return tools;
}

// The node's part of the preflight, over one SSH session: its uid through
// the node's settings, its clock (read between two of the harness's), and
// the tools it lacks. Fills `row`; returns the problems.
std::vector<std::string> check_node(const NodeSpec& n, const std::vector<std::string>& tools, const PreflightOptions& o,
                                    NodeCheck& row) {
  std::vector<std::string> problems;
  std::string command = "id -u; date +%s.%N; for t in";
  for (const auto& tool : tools) command += " " + sh_quote(tool);
  if (!n.postgres.bin_dir.empty()) command += " " + sh_quote(n.postgres.bin_dir + "/pg_ctl");
  // A path must be an executable file (bash's command -v also prints a
  // non-executable one when nothing better is found). "a|b": either will do
  // ("instead b" when only b is there).
  command +=
      "; do ok=; for a in $(printf '%s' \"$t\" | tr '|' ' '); do p=$(command -v \"$a\" 2>/dev/null) || continue; "
      "case $p in /*) [ -f \"$p\" ] && [ -x \"$p\" ] || continue ;; esac; ok=$a; break; done; "
      "[ -n \"$ok\" ] || echo \"missing $t\"; [ -z \"$ok\" ] || [ \"$ok\" = \"${t%%|*}\" ] || echo \"instead $ok\"; "
      "done; "
      // Where the distributions' packages put PostgreSQL: named when pg_ctl is missing.
      "for d in /usr/lib/postgresql/*/bin /usr/pgsql-*/bin; do [ -x \"$d/pg_ctl\" ] && echo \"pgbin $d\"; done; true";
  row.ssh = fmt::format("{}@{}:{}{}", n.ssh.user, n.ssh.host, n.ssh.port, uses_sudo(n.ssh) ? " sudo" : "");
  for (std::size_t i = 0; i < n.ssh.jump.size(); ++i)
    row.ssh += fmt::format("{}{}", i == 0 ? " via " : ",", n.ssh.jump[i].host);
  SshTransport t(n.ssh);
  t.connect();
  const auto before = std::chrono::system_clock::now();
  const ExecResult r = t.exec(command, o.deadline);
  const auto after = std::chrono::system_clock::now();
  if (std::string p = root_problem(n, r); !p.empty()) {
    row.root = "no";
    problems.push_back(std::move(p));
    return problems;
  }
  row.root = "yes";
  std::istringstream lines(r.out);
  std::string uid, clock, line;
  std::getline(lines, uid);
  std::getline(lines, clock);
  std::vector<std::string> missing, instead, pgbin;
  while (std::getline(lines, line)) {
    if (line.rfind("missing ", 0) == 0) missing.push_back(alternatives(line.substr(8)));
    if (line.rfind("instead ", 0) == 0) instead.push_back(line.substr(8));
    if (line.rfind("pgbin ", 0) == 0) pgbin.push_back(line.substr(6));
  }
  row.tools = !missing.empty()  ? fmt::format("missing {}", fmt::join(missing, ", "))
              : instead.empty() ? "ok"
                                : fmt::format("ok ({})", fmt::join(instead, ", "));
  if (!missing.empty())
    problems.push_back(fmt::format(
        "node {}: {} not found (through sudo's PATH when sudo is used): haverify's faults or the driver run them "
        "there; install them (docs/inventory.md \"Real clusters\"){}",
        n.name, fmt::join(missing, ", "),
        std::any_of(missing.begin(), missing.end(), [](const std::string& m) { return m.ends_with("/pg_ctl"); })
            ? pg_bin_hint(pgbin)
            : ""));
  const auto secs = [](std::chrono::system_clock::time_point tp) {
    return std::chrono::duration<double>(tp.time_since_epoch()).count();
  };
  char* end = nullptr;
  const double node_s = std::strtod(clock.c_str(), &end);
  if (clock.empty() || end != clock.c_str() + clock.size()) {
    row.clock = "?";
    problems.push_back(fmt::format("node {}: `date +%s.%N` printed '{}', not a time", n.name, clock));
    return problems;
  }
  const double mid = (secs(before) + secs(after)) / 2, slack = (secs(after) - secs(before)) / 2;
  const double offset = node_s - mid;
  row.clock = fmt::format("{:+.3f} s", offset);
  if (std::abs(offset) - slack > o.max_clock_offset_s)
    problems.push_back(fmt::format(
        "node {}: its clock is {:.3f} s {} the harness's (read within {:.3f} s; bound {:.3f} s): t_detect and the "
        "log bundle's times come from the nodes' clocks; synchronise the nodes and the harness host (chrony or "
        "systemd-timesyncd against the same source)",
        n.name, std::abs(offset), offset > 0 ? "ahead of" : "behind", slack, o.max_clock_offset_s));
  return problems;
}

// Empty when `dir` (or the nearest existing folder above it) has room.
std::string disk_problem(const PreflightOptions& o) {
  if (o.run_dir.empty()) return {};
  fs::path p = fs::absolute(o.run_dir);
  while (!p.empty() && !fs::exists(p) && p != p.parent_path()) p = p.parent_path();
  std::error_code ec;
  const auto space = fs::space(p, ec);
  if (ec) return fmt::format("cannot read the free space of {}: {}", p.string(), ec.message());
  if (space.available >= o.min_free_bytes) return {};
  return fmt::format(
      "{} has {} MB free, under the {} MB a suite's histories and logs may need: free some space or "
      "choose another --out",
      p.string(), space.available >> 20, o.min_free_bytes >> 20);
}

}  // namespace

std::vector<std::string> node_tools(const Inventory& inv, const std::vector<Scenario>* scenarios) {
  std::set<std::string> tools = {"runuser"};  // PostgreSQL's commands as its OS user
  const auto add_fault = [&](const FaultSpec& f) {
    // A packet-filter cut uses nft, else iptables (faults/firewall_cut.hpp).
    if (f.kind == "lan_cut") tools.insert(f.method == "nft" ? "nft|iptables" : "ip");
    if (f.kind == "lan_cut" && f.self_heal) tools.insert("setsid");
    if (f.kind == "process_kill" || f.kind == "process_pause") tools.insert("pgrep");
  };
  if (!scenarios) {
    tools.insert({"ip", "nft|iptables", "pgrep", "setsid"});
  } else {
    for (const auto& sc : *scenarios)
      for (const auto& step : sc.steps)
        for (const auto& f : step.faults) add_fault(f);
  }
  if (inv.driver.type == "pacemaker")
    tools.insert({"crm_mon", "crm_resource", "crm_node", "crm_simulate", "attrd_updater"});
  if (inv.driver.type == "patroni") tools.insert("patronictl");
  return {tools.begin(), tools.end()};
}

Preflight preflight(const Inventory& inv, const PreflightOptions& o) {
  Preflight out;
  out.rows.resize(inv.nodes.size());
  std::vector<std::vector<std::string>> problems(inv.nodes.size());
  const std::vector<std::string> tools = node_tools(inv, o.scenarios);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      const auto& n = inv.nodes[i];
      out.rows[i].node = n.name;
      try {
        problems[i] = check_node(n, tools, o, out.rows[i]);
      } catch (const std::exception& e) {
        out.rows[i].ssh = "unreachable";
        problems[i] = {fmt::format("node {}: {}", n.name, e.what())};
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& p : problems) out.problems.insert(out.problems.end(), p.begin(), p.end());
  TransportPool pool(inv);
  for (std::size_t i = 0; i < inv.nodes.size(); ++i) {
    const auto& n = inv.nodes[i];
    std::string p;
    if (n.power.controller == "lab" && inv.lab && !fs::exists(inv.lab->script))
      p = fmt::format("node {}: lab power controller script {} does not exist", n.name, inv.lab->script);
    else
      p = power_problem(inv, n, pool, o.deadline, out.rows[i].power);
    if (!p.empty()) out.problems.push_back(std::move(p));
  }
  if (std::string d = disk_problem(o); !d.empty()) out.problems.push_back(std::move(d));
  const char* path = std::getenv("PATH");
  for (auto& p : harness_host_problems(inv, path ? path : "")) out.problems.push_back(std::move(p));
  return out;
}

namespace {

constexpr std::array<const char*, 5> kPcpTools = {"pcp_node_count", "pcp_node_info", "pcp_attach_node",
                                                  "pcp_detach_node", "pcp_promote_node"};

bool executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// `tool` in `dir`, or in a directory of the PATH value `path` when dir is empty.
bool tool_found(const std::string& tool, const std::string& dir, const std::string& path) {
  if (!dir.empty()) return executable_file(fs::path(dir) / tool);
  std::istringstream dirs(path);
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && executable_file(fs::path(d) / tool)) return true;
  return false;
}

std::vector<std::string> pcp_problems(const DriverSpec& d, const std::string& path) {
  std::vector<std::string> out;
  std::vector<std::string> missing;
  for (const char* tool : kPcpTools)
    if (!tool_found(tool, d.pcp_bin_dir, path)) missing.emplace_back(tool);
  if (!missing.empty())
    out.push_back(fmt::format(
        "the pgpool driver runs {} on this machine (the harness host), against pcp_host {}: not found {}; install "
        "pgpool-II's client tools here (Debian: pgpool2, RHEL: pgpool-II) or set driver.pcp_bin_dir to where they are",
        fmt::join(missing, ", "), d.pcp_host,
        d.pcp_bin_dir.empty() ? "on the PATH" : fmt::format("in driver.pcp_bin_dir {}", d.pcp_bin_dir)));
  std::error_code ec;
  const auto st = fs::status(d.pcp_passfile, ec);
  if (d.pcp_passfile.empty()) {
    // pcp then reads ~/.pcppass: its own rules.
  } else if (ec || !fs::is_regular_file(st) || ::access(d.pcp_passfile.c_str(), R_OK) != 0) {
    out.push_back(fmt::format("driver.pcp_passfile {} is not a readable file on this machine", d.pcp_passfile));
  } else if ((st.permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    out.push_back(fmt::format("driver.pcp_passfile {} may be read by others, so pcp ignores it: chmod 600 {}",
                              d.pcp_passfile, d.pcp_passfile));
  }
  return out;
}

}  // namespace

std::vector<std::string> harness_host_problems(const Inventory& inv, const std::string& path) {
  std::vector<std::string> out;
  if (inv.driver.type == "pgpool") out = pcp_problems(inv.driver, path);
  if (inv.driver.type == "pgpool" || inv.driver.type == "generic" || inv.driver.type == "pacemaker") {
    const std::string script = inv.driver.type == "pacemaker" ? inv.driver.rejoin_script : rejoin_script_for(inv);
    std::error_code ec;
    if (!fs::is_regular_file(script, ec) || ::access(script.c_str(), R_OK) != 0)
      out.push_back(fmt::format(
          "the {} driver's rejoin script {} is not a readable file on this machine (it is pushed to a node over SSH "
          "to rejoin it); fix driver.rejoin_script",
          inv.driver.type, script));
  }
  return out;
}

std::vector<std::string> check_inventory(const Inventory& inv, const PreflightOptions& o) {
  return preflight(inv, o).problems;
}

std::string format_preflight(const Preflight& p) {
  std::vector<NodeCheck> rows = {{"node", "ssh", "root", "clock", "tools", "power"}};
  rows.insert(rows.end(), p.rows.begin(), p.rows.end());
  std::array<std::size_t, 5> w{};
  for (const auto& r : rows) {
    const std::array<const std::string*, 5> cells = {&r.node, &r.ssh, &r.root, &r.clock, &r.tools};
    for (std::size_t c = 0; c < w.size(); ++c) w[c] = std::max(w[c], cells[c]->size());
  }
  std::string out;
  for (const auto& r : rows)
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}  {:<{}}  {}\n", r.node, w[0], r.ssh, w[1], r.root, w[2], r.clock,
                       w[3], r.tools, w[4], r.power);
  return out;
}

std::string unhealed_faults_problem(const std::string& ledger_path) {
  faults::FaultLedger ledger(ledger_path.empty() ? faults::FaultLedger::default_path() : ledger_path);
  const auto left = ledger.entries().size();
  if (left == 0) return {};
  return fmt::format(
      "the fault ledger {} still lists {} unhealed fault(s) from an earlier run; run `haverify heal` first",
      ledger.path(), left);
}

}  // namespace haverify
