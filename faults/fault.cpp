#include "faults/fault.hpp"
#include "faults/firewall_cut.hpp"

#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/cluster/probe.hpp"
#include "haverify/core/shell.hpp"

namespace haverify::faults {

namespace {

// `st`, a shell function: return 0 off, 1 on, 2 neither (said on stderr).
std::string lab_status(const std::string& script, const std::string& node) {
  return fmt::format(
      "st() {{ {0} power-status {1} >/dev/null; case $? in 3) return 0 ;; 0) return 1 ;; esac; echo \"lab "
      "power-status {1} failed\" >&2; return 2; }}",
      script, node);
}

// The command's last non-empty line, lower-cased and trimmed, must end in
// the word on or off ("Chassis Power is off", "Status: OFF", "off").
std::string command_status(const std::string& status, const std::string& node) {
  return fmt::format(
      "st() {{ out=$( ( {} ) 2>&1 ); l=$(printf '%s\\n' \"$out\" | tr -d '\\r' | awk 'NF {{ l = $0 }} END {{ sub(/[ "
      "\\t]+$/, \"\", l); print tolower(l) }}'); case \"$l\" in off | *[!a-z0-9]off) return 0 ;; on | *[!a-z0-9]on) "
      "return 1 ;; esac; printf '%s\\n' \"power status of {}: the answer does not end in on or off: $out\" >&2; return "
      "2; }}",
      status, node);
}

std::string ipmitool(const PowerSpec& p, const std::string& what) {
  const std::string auth = p.password_file.empty() ? "-E" : "-f " + sh_quote(p.password_file);
  const std::string env = p.password_env.empty() ? "" : fmt::format("IPMI_PASSWORD=\"${{{}}}\" ", p.password_env);
  // -N 2 -R 2: a lost datagram is sent again after 2 s, twice (the fault deadline bounds the rest).
  return fmt::format("{}ipmitool -I {} -C {} -H {} -p {} -U {} {} -N 2 -R 2 chassis power {} </dev/null", env,
                     p.interface, p.cipher_suite, sh_quote(p.bmc), p.bmc_port, sh_quote(p.user), auth, what);
}

// ipmitool's answer, exactly: "Chassis Power is on|off" and exit 0.
std::string ipmi_status(const PowerSpec& p, const std::string& node) {
  return fmt::format(
      "st() {{ out=$({} 2>&1); rc=$?; case \"$rc:$out\" in '0:Chassis Power is off') return 0 ;; '0:Chassis Power is "
      "on') return 1 ;; esac; printf '%s\\n' \"BMC {}:{} of {}: unexpected answer to chassis power status (exit $rc): "
      "$out\" >&2; return 2; }}",
      ipmitool(p, "status"), p.bmc, p.bmc_port, node);
}

void ipmi_commands(const NodeSpec& node, PowerCommands& c, std::string& st) {
  const PowerSpec& p = node.power;
  if (!p.password_env.empty()) {
    const char* v = std::getenv(p.password_env.c_str());
    if (!v || !*v)
      throw FaultError(
          fmt::format("node {}: power.password_env names {}, which is not set in haverify's environment "
                      "(export it, or use power.password_file)",
                      node.name, p.password_env));
  }
  c.where = "local";
  c.off = ipmitool(p, "off") + " >/dev/null";
  c.on = ipmitool(p, "on") + " >/dev/null";
  st = ipmi_status(p, node.name);
}

}  // namespace

PowerCommands power_commands(const Inventory& inv, const NodeSpec& node) {
  PowerCommands p;
  std::string st;  // the status function, when the controller has one
  if (node.power.controller == "none")
    throw FaultError(fmt::format("node {} has no power controller (it is not a PostgreSQL node)", node.name));
  if (node.power.controller == "lab") {
    if (!inv.lab)
      throw FaultError(
          fmt::format("node {} uses the lab power controller but the inventory has no lab: block", node.name));
    const std::string s = sh_quote(inv.lab->script);
    const std::string n = sh_quote(node.name);
    p.where = "local";
    p.off = fmt::format("{} power-off {}", s, n);
    p.on = fmt::format("{} power-on {}", s, n);
    st = lab_status(s, n);
  } else if (node.power.controller == "ipmi") {
    ipmi_commands(node, p, st);
  } else {
    std::map<std::string, std::string> vars = node.power.vars;
    vars["node"] = node.name;
    vars["host"] = node.ssh.host;
    std::string missing;
    p.where = node.power.run_on;
    p.off = expand_template(node.power.off, vars, &missing);
    p.on = expand_template(node.power.on, vars, &missing);
    if (!node.power.status.empty()) st = command_status(expand_template(node.power.status, vars, &missing), node.name);
    if (!missing.empty())
      throw FaultError(
          fmt::format("node {}: power command template uses unknown variable(s) {}; add them under power.vars",
                      node.name, missing));
  }
  if (st.empty()) return p;  // command, verify: none
  p.status_is_off = st + "; st";
  // Idempotent: only power on what is off; an unreadable status is an error.
  p.on = fmt::format("{}; st; case $? in 0) {} ;; 1) : ;; *) exit 2 ;; esac", st, p.on);
  // Off within 10 s (a BMC may report the new state a moment later).
  p.verify_off = fmt::format(
      "{}; i=0; while :; do st; rc=$?; [ $rc -eq 1 ] || exit $rc; i=$((i + 1)); [ $i -lt 20 ] || {{ echo 'still on "
      "10 s after the power-off' >&2; exit 1; }}; sleep 0.5; done",
      st);
  return p;
}

namespace {

FaultAction plan_power_off(const Inventory& inv, const NodeSpec& node) {
  FaultAction a;
  const PowerCommands p = power_commands(inv, node);
  a.where = p.where;
  a.inject_command = p.off;
  a.verify_command = p.verify_off;
  a.heal_command = p.on;
  a.description = fmt::format("power_off {}", node.name);
  return a;
}

// The addresses of the cut's peers on its LAN ("" without a peer): an nft
// set of IPv4 or IPv6 addresses, and the match word for it.
struct PeerMatch {
  std::string family;              // "ip" | "ip6"
  std::vector<std::string> addrs;  // the peers' addresses on the LAN
};

std::optional<PeerMatch> peer_match(const FaultSpec& spec, const Inventory& inv, const NodeSpec& node) {
  if (spec.peer.empty()) return std::nullopt;
  if (spec.peer_nodes.empty())
    throw FaultError(fmt::format("lan_cut of {} with peer '{}': the peer resolved to no node", node.name, spec.peer));
  PeerMatch m;
  for (const auto& name : spec.peer_nodes) {
    const NodeSpec* peer = inv.node(name);
    if (!peer) throw FaultError(fmt::format("lan_cut peer '{}' is not a node of the inventory", name));
    if (peer->name == node.name)
      throw FaultError(
          fmt::format("lan_cut of {} with peer '{}': the peer is the cut node itself (pick another "
                      "peer or target)",
                      node.name, spec.peer));
    const InterfaceSpec* itf = peer->interface_on(spec.lan);
    if (!itf) throw FaultError(fmt::format("lan_cut peer {} has no interface on LAN '{}'", name, spec.lan));
    const std::string a = address_without_prefix(itf->address);
    const std::string family = a.find(':') == std::string::npos ? "ip" : "ip6";
    if (!m.family.empty() && m.family != family)
      throw FaultError(fmt::format("lan_cut peers of {} mix IPv4 and IPv6 addresses on LAN '{}'", node.name, spec.lan));
    m.family = family;
    m.addrs.push_back(a);
  }
  return m;
}

// lan_cut by packet filter (method nft): nft, else iptables (firewall_cut.hpp).
void plan_nft_cut(FaultAction& a, const FaultSpec& spec, const Inventory& inv, const NodeSpec& node,
                  const InterfaceSpec& itf) {
  if (spec.port && *spec.port == node.ssh.port && node.ssh.host == address_without_prefix(itf.address))
    throw FaultError(fmt::format("lan_cut of port {} on {}: that is haverify's own SSH channel to {}", *spec.port,
                                 spec.lan, node.name));
  const auto peer = peer_match(spec, inv, node);
  FirewallCut cut;
  cut.name = "haverify_cut_" + itf.ifname + (spec.port ? "_" + std::to_string(*spec.port) : std::string());
  if (peer) cut.name += "_" + fmt::format("{}", fmt::join(spec.peer_nodes, "_"));
  cut.ifname = itf.ifname;
  cut.direction = spec.direction;
  cut.port = spec.port;
  if (peer) {
    cut.family = peer->family;
    cut.peers = peer->addrs;
  }
  const FirewallCommands f = firewall_cut_commands(cut);
  a.inject_command = f.inject;
  a.verify_command = f.verify;
  a.heal_command = f.heal;
}

FaultAction plan_lan_cut(const FaultSpec& spec, const Inventory& inv, const NodeSpec& node) {
  const InterfaceSpec* itf = node.interface_on(spec.lan);
  if (!itf)
    throw FaultError(fmt::format("node {} has no interface on LAN '{}' (see its interfaces: in the inventory)",
                                 node.name, spec.lan));
  FaultAction a;
  a.where = "ssh";
  const std::string ifq = sh_quote(itf->ifname);
  if (spec.method == "link") {
    a.inject_command = fmt::format("ip link set dev {} down", ifq);
    a.verify_command = fmt::format("ip -o link show dev {} | grep -qv '[<,]UP[,>]'", ifq);
    a.heal_command = fmt::format("ip link set dev {} up", ifq);
  } else {
    plan_nft_cut(a, spec, inv, node, *itf);
  }
  a.description =
      fmt::format("lan_cut {}{} ({}, {}) on {}{}", spec.lan,
                  spec.port ? ":" + std::to_string(*spec.port) : std::string(), itf->ifname, spec.method, node.name,
                  spec.peer_nodes.empty() ? std::string() : fmt::format(" with {}", fmt::join(spec.peer_nodes, "+")));
  return a;
}

}  // namespace

std::string managed_process_regex(const std::string& selector) {
  // Pacemaker 2.x's daemons and their Pacemaker 1.1 names (RHEL 7, SLES 12):
  // one scenario kills the same daemon on either.
  static const std::map<std::string, std::string> daemons = {{"corosync", "corosync"},
                                                             {"pacemakerd", "pacemakerd"},
                                                             {"pacemaker-controld", "(pacemaker-controld|crmd)"},
                                                             {"pacemaker-execd", "(pacemaker-execd|lrmd)"},
                                                             {"pacemaker-based", "(pacemaker-based|cib)"},
                                                             {"etcd", "etcd"}};
  // An extended regex on /proc/PID/cmdline (arguments joined by spaces):
  // the program, with or without its directory, as the first word.
  if (auto it = daemons.find(selector); it != daemons.end()) return fmt::format("^([^ ]*/)?{}( |$)", it->second);
  // Patroni is a Python program: started as a script or through the interpreter.
  if (selector == "patroni") return "^([^ ]*/)?(python[0-9.]* +([^ ]*/)?)?patroni( |$)";
  return {};
}

namespace {

// A shell snippet that sets $pids to the selected processes, or exits 3.
// With `children`, a postmaster selection includes all its child processes.
std::string select_processes(const FaultSpec& spec, const NodeSpec& node, bool children) {
  std::string select;
  if (spec.process == "postmaster") {
    const std::string pidfile = sh_quote(node.postgres.data_dir + "/postmaster.pid");
    select = fmt::format(
        "pids=$(head -n1 {} 2>/dev/null); [ -n \"$pids\" ] && kill -0 $pids 2>/dev/null || {{ echo 'no running "
        "postmaster found via {}' >&2; exit 3; }}",
        pidfile, pidfile);
  } else if (spec.process == "walreceiver") {
    // The process title, e.g. "postgres: walreceiver streaming 0/3000148" (the
    // shell running this never starts with "postgres:").
    select =
        "pids=$(pgrep -f '^postgres: .*walreceiver' | tr '\\n' ' '); [ -n \"$pids\" ] || { echo 'no walreceiver on "
        "this node' >&2; exit 3; }";
  } else if (spec.process == "pgpool") {
    select =
        "pids=$(pgrep -x pgpool | tr '\\n' ' '); [ -n \"$pids\" ] || { echo 'no pgpool process on this node' >&2; exit "
        "3; }";
  } else if (std::string re = managed_process_regex(spec.process); !re.empty()) {
    // Matched on the full command line (pgrep -x only sees the first 15
    // characters of the name: pacemaker-controld would never match).
    select = fmt::format(
        "pids=$(pgrep -f {} | tr '\\n' ' '); [ -n \"$pids\" ] || {{ echo 'no {} process on this node' >&2; exit 3; }}",
        sh_quote(re), spec.process);
  } else if (spec.process.rfind("name:", 0) == 0) {
    const std::string name = sh_quote(spec.process.substr(5));
    select = fmt::format(
        "pids=$(pgrep -x {} | tr '\\n' ' '); [ -n \"$pids\" ] || {{ echo 'no process named '{}' on this node' >&2; "
        "exit 3; }}",
        name, name);
  } else {
    const std::string pidfile = sh_quote(spec.process.substr(8));
    select = fmt::format(
        "pids=$(head -n1 {} 2>/dev/null); [ -n \"$pids\" ] && kill -0 $pids 2>/dev/null || {{ echo 'no running process "
        "from pidfile '{} >&2; exit 3; }}",
        pidfile, pidfile);
  }
  if (children && (spec.process == "postmaster" || spec.process.rfind("pidfile:", 0) == 0))
    select += "; pids=\"$pids $(pgrep -P $pids | tr '\\n' ' ')\"";
  return select;
}

FaultAction plan_process_pause(const FaultSpec& spec, const NodeSpec& node, const std::string& tag) {
  FaultAction a;
  a.where = "ssh";
  const std::string memo = sh_quote(fmt::format("/run/haverify-pause-{}-{}.pids", node.name, tag));
  const double secs = static_cast<double>(spec.pause.value_or(std::chrono::milliseconds(0)).count()) / 1000.0;
  // Stop, sleep on the node, continue: the pause length does not depend on
  // the control channel. The trap continues the processes even if the
  // command is cut short (SSH hang-up, deadline).
  a.inject_command = fmt::format(
      "{}; echo $pids > {} && trap 'kill -CONT $pids 2>/dev/null' EXIT HUP INT TERM && kill -STOP $pids && "
      "sleep {:.3f}; kill -CONT $pids",
      select_processes(spec, node, true), memo, secs);
  a.verify_command = fmt::format(
      "[ -s {0} ] || exit 1; for p in $(cat {0}); do grep -q '^State:.*T' /proc/$p/status 2>/dev/null && exit 1; done; "
      "exit 0",
      memo);
  a.heal_command = fmt::format("[ -f {0} ] && kill -CONT $(cat {0}) 2>/dev/null; rm -f {0}; true", memo);
  a.description =
      fmt::format("process_pause {} for {}ms on {}", spec.process, spec.pause ? spec.pause->count() : 0, node.name);
  return a;
}

FaultAction plan_process_kill(const FaultSpec& spec, const NodeSpec& node, const std::string& tag) {
  FaultAction a;
  a.where = "ssh";
  const std::string sig = spec.signal;
  const std::string select = select_processes(spec, node, false);
  // One file per action (tag), so two process faults on one node never mix up their pids.
  const std::string memo = sh_quote(fmt::format("/run/haverify-kill-{}-{}.pids", node.name, tag));
  a.inject_command = fmt::format("{}; echo $pids > {} && kill -{} $pids", select, memo, sig);
  if (sig == "KILL") {
    a.verify_command = fmt::format(
        "[ -s {0} ] || exit 1; for i in $(seq 200); do alive=0; for p in $(cat {0}); do kill -0 $p 2>/dev/null && "
        "alive=1; done; [ $alive = 0 ] && exit 0; sleep 0.01; done; exit 1",
        memo);
  } else if (sig == "STOP") {
    a.verify_command = fmt::format(
        "[ -s {0} ] || exit 1; for p in $(cat {0}); do grep -q '^State:.*T' /proc/$p/status || exit 1; done", memo);
    a.heal_command = fmt::format("[ -f {0} ] && kill -CONT $(cat {0}) 2>/dev/null; rm -f {0}; true", memo);
  }
  a.description = fmt::format("process_kill {} SIG{} on {}", spec.process, sig, node.name);
  return a;
}

// lan_cut self_heal: the cut and its heal run from a script on the node,
// started detached (setsid, no terminal, its own files) so that it outlives
// the SSH channel the cut takes down. Its log says whether each part worked.
void make_self_healing(FaultAction& a, const FaultSpec& spec, const std::string& node, const std::string& tag) {
  const std::string base = fmt::format("/run/haverify-selfheal-{}-{}", node, tag);
  const std::string script = sh_quote(base + ".sh"), log = sh_quote(base + ".log");
  const auto secs = [](std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  const std::string heal = a.heal_command;
  a.arm = spec.self_heal_arm;
  a.lasts = spec.duration.value_or(std::chrono::milliseconds(0));
  a.inject_command = fmt::format(
      "rm -f {1} && cat > {0} <<'HAVERIFY_SELF_HEAL' && chmod 700 {0}\n"
      "echo \"armed $$\" >{1}; sleep {2:.3f}\n{{ {3}\n}} >>{1} 2>&1; echo \"cut $?\" >>{1}\n"
      "sleep {4:.3f}\n{{ {5}\n}} >>{1} 2>&1; echo \"heal $?\" >>{1}\n"
      "HAVERIFY_SELF_HEAL\n"
      "setsid sh {0} </dev/null >/dev/null 2>&1 &\n"
      "pid=$!; sleep 0.05; kill -0 $pid 2>/dev/null || {{ echo 'the self-heal script {0} did not start' >&2; exit 3; "
      "}}; echo armed",
      script, log, secs(a.arm), a.inject_command, secs(a.lasts), heal);
  const std::string show = fmt::format("$(tr '\\n' ';' < {})", log);
  a.heal_command = fmt::format(
      "[ -f {0} ] || {{ echo 'no self-heal log {0} on this node: the script never ran' >&2; exit 3; }}; "
      "if grep -q '^cut [1-9]' {0}; then echo \"the cut did not take effect: {1}\" >&2; exit 5; fi; "
      "if grep -q '^heal [1-9]' {0}; then echo \"the node's own heal failed: {1}\" >&2; exit 6; fi; "
      "grep -qx 'heal 0' {0} || {{ echo \"the node has not healed itself yet: {1}\" >&2; exit {3}; }}; "
      "rm -f {0} {2}",
      log, show, script, kNotHealedYet);
  a.ledger_heal = fmt::format("{}; s=$?; rm -f {} {}; exit $s", heal, log, script);
  a.verify_command.clear();  // the cut is checked after it healed: haverify cannot reach the node during it
  a.description += fmt::format(", self-healing after {:.3f} s", secs(a.lasts));
}

}  // namespace

FaultAction plan_fault(const FaultSpec& spec, const Inventory& inv, const NodeSpec& node, const std::string& tag) {
  FaultAction a;
  if (spec.kind == "power_off")
    a = plan_power_off(inv, node);
  else if (spec.kind == "lan_cut")
    a = plan_lan_cut(spec, inv, node);
  else if (spec.kind == "process_kill") {
    a = plan_process_kill(spec, node, tag);
    // A process that nothing restarts by itself (pgpool, outside systemd):
    // its heal starts it again, if the inventory says how.
    auto restart = inv.driver.restart_commands.find(spec.process);
    if (restart != inv.driver.restart_commands.end() && spec.signal == "KILL" && a.heal_command.empty())
      a.heal_command = fmt::format("{}; true", restart->second);
  } else if (spec.kind == "process_pause")
    a = plan_process_pause(spec, node, tag);
  else
    throw FaultError(fmt::format("unknown fault kind '{}'", spec.kind));
  if (spec.self_heal && spec.kind == "lan_cut") make_self_healing(a, spec, node.name, tag);
  if ((spec.kind == "lan_cut" || spec.kind == "process_pause") && node.power.controller != "none") {
    try {
      const PowerCommands p = power_commands(inv, node);
      if (p.where == "local") a.void_if_off = p.status_is_off;
    } catch (const FaultError&) {
      // No readable power status: a failed heal stays a failure.
    }
  }
  a.kind = spec.kind;
  a.node = node.name;
  return a;
}

}  // namespace haverify::faults
