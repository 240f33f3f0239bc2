#include "haverify/config/inventory.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "haverify/config/config_reader.hpp"

namespace haverify {

const InterfaceSpec* NodeSpec::interface_on(const std::string& lan) const {
  for (const auto& i : interfaces)
    if (i.lan == lan) return &i;
  return nullptr;
}

const NodeSpec* Inventory::node(const std::string& n) const {
  for (const auto& x : nodes)
    if (x.name == n) return &x;
  for (const auto& x : aux_nodes)
    if (x.name == n) return &x;
  return nullptr;
}

const LanSpec* Inventory::lan(const std::string& n) const {
  for (const auto& x : lans)
    if (x.name == n) return &x;
  return nullptr;
}

std::vector<std::string> Inventory::node_names() const {
  std::vector<std::string> out;
  for (const auto& n : nodes) out.push_back(n.name);
  return out;
}

namespace {

struct SshDefaults {
  std::string user = "root";
  int port = 22;
  std::string key;
  std::string known_hosts;
  std::chrono::milliseconds connect_timeout{3000};
};

void read_ssh(MapReader& r, SshTarget& t) {
  if (auto v = r.opt_string("host")) t.host = *v;
  if (auto v = r.opt_string("user")) t.user = *v;
  if (auto v = r.opt_int("port")) t.port = static_cast<int>(*v);
  if (auto v = r.opt_string("key")) t.key_file = *v;
  if (auto v = r.opt_string("known_hosts")) t.known_hosts = *v;
  if (auto v = r.opt_int("connect_timeout_ms")) t.connect_timeout = std::chrono::milliseconds(*v);
  r.finish();
}

void read_power(MapReader& r, PowerSpec& p, ConfigContext& ctx) {
  p.controller = r.get_string("controller", "lab");
  if (p.controller != "lab" && p.controller != "command") {
    ctx.error(r.child("controller"), r.key_path("controller"),
              fmt::format("unknown power controller '{}' (use lab or command)", p.controller));
  }
  p.run_on = r.get_string("run_on", "local");
  if (p.run_on != "local" && p.run_on != "ssh")
    ctx.error(r.child("run_on"), r.key_path("run_on"), "must be local or ssh");
  p.off = r.get_string("off", "");
  p.on = r.get_string("on", "");
  p.status = r.get_string("status", "");
  YAML::Node vars = r.child("vars");
  if (vars.IsDefined() && !vars.IsNull()) {
    if (!vars.IsMap()) {
      ctx.error(vars, r.key_path("vars"), "expected a mapping of name: value");
    } else {
      for (auto it = vars.begin(); it != vars.end(); ++it)
        p.vars[it->first.as<std::string>("")] = it->second.as<std::string>("");
    }
  }
  if (p.controller == "command" && (p.off.empty() || p.on.empty()))
    ctx.error(r.node(), r.path(), "a command power controller needs both 'off' and 'on' templates");
  r.finish();
}

}  // namespace

Inventory parse_inventory_node(const YAML::Node& root, const std::string& name) {
  ConfigContext ctx(name);
  Inventory inv;
  inv.file = name;
  MapReader top(ctx, root, "");
  if (!top.valid()) {
    ctx.error(root, "(top level)", "an inventory must be a YAML mapping");
    ctx.throw_if_errors();
  }
  inv.name = top.get_string("name", "cluster");
  inv.stack = top.get_string("stack", "unknown");
  inv.profile = top.get_string("profile", "default");

  {
    YAML::Node lans = top.child("lans");
    MapReader lr(ctx, lans, "lans");
    if (lr.valid()) {
      for (auto it = lans.begin(); it != lans.end(); ++it) {
        LanSpec l;
        l.name = it->first.as<std::string>("");
        MapReader one(ctx, it->second, "lans." + l.name);
        l.subnet = one.get_string("subnet", "");
        l.monitored = one.get_bool("monitored", false);
        one.finish();
        inv.lans.push_back(l);
        lr.child(l.name);
      }
    }
    lr.finish();
  }

  SshDefaults defaults;
  SshTarget default_target;
  {
    MapReader sr(ctx, top.child("ssh"), "ssh");
    if (sr.valid()) read_ssh(sr, default_target);
    if (!default_target.host.empty())
      ctx.error(sr.child("host"), "ssh.host", "the host belongs in each node's ssh block");
  }

  {
    MapReader lab(ctx, top.child("lab"), "lab");
    if (lab.valid()) {
      LabSpec spec;
      spec.script = lab.req_string("script");
      spec.state_dir = lab.get_string("state_dir", "");
      inv.lab = spec;
    }
    lab.finish();
  }

  YAML::Node nodes = top.child("nodes");
  if (!nodes.IsDefined() || !nodes.IsSequence() || nodes.size() == 0) {
    ctx.error(nodes.IsDefined() ? nodes : root, "nodes", "expected a non-empty list of nodes");
  } else {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::string path = fmt::format("nodes[{}]", i);
      MapReader nr(ctx, nodes[i], path);
      if (!nr.valid()) continue;
      NodeSpec n;
      n.name = nr.req_string("name");
      if (!n.name.empty() && !seen.insert(n.name).second)
        ctx.error(nr.child("name"), path + ".name", fmt::format("duplicate node name '{}'", n.name));
      n.ssh = default_target;
      {
        MapReader s(ctx, nr.child("ssh"), path + ".ssh");
        if (s.valid()) read_ssh(s, n.ssh);
        if (n.ssh.host.empty()) ctx.error(nodes[i], path + ".ssh.host", "required key is missing");
      }
      {
        YAML::Node ifs = nr.child("interfaces");
        MapReader ir(ctx, ifs, path + ".interfaces");
        if (ir.valid()) {
          for (auto it = ifs.begin(); it != ifs.end(); ++it) {
            InterfaceSpec spec;
            spec.lan = it->first.as<std::string>("");
            ir.child(spec.lan);
            MapReader one(ctx, it->second, path + ".interfaces." + spec.lan);
            spec.ifname = one.req_string("ifname");
            spec.address = one.get_string("address", "");
            one.finish();
            n.interfaces.push_back(spec);
          }
        }
        ir.finish();
      }
      {
        MapReader pr(ctx, nr.child("postgres"), path + ".postgres");
        if (!pr.valid()) {
          ctx.error(nodes[i], path + ".postgres", "required block is missing");
        } else {
          n.postgres.host = pr.get_string("host", n.ssh.host);
          n.postgres.port = static_cast<int>(pr.get_int("port", 5432));
          n.postgres.user = pr.get_string("user", "postgres");
          n.postgres.database = pr.get_string("database", "postgres");
          n.postgres.password = pr.get_string("password", "");
          n.postgres.data_dir = pr.get_string("data_dir", n.postgres.data_dir);
          n.postgres.bin_dir = pr.get_string("bin_dir", n.postgres.bin_dir);
          n.postgres.os_user = pr.get_string("os_user", "postgres");
          n.postgres.log_file = pr.get_string("log_file", "");
          n.postgres.probe = pr.get_string("probe", "direct");
          if (n.postgres.probe != "direct" && n.postgres.probe != "ssh")
            ctx.error(pr.child("probe"), path + ".postgres.probe", "must be direct or ssh");
        }
        pr.finish();
      }
      {
        MapReader pw(ctx, nr.child("power"), path + ".power");
        if (pw.valid()) read_power(pw, n.power, ctx);
      }
      nr.finish();
      inv.nodes.push_back(std::move(n));
    }
  }

  {
    MapReader er(ctx, top.child("endpoint"), "endpoint");
    if (!er.valid()) {
      ctx.error(root, "endpoint", "required block is missing (where clients connect)");
    } else {
      inv.endpoint.kind = er.get_string("kind", "pgpool");
      inv.endpoint.host = er.req_string("host");
      inv.endpoint.port = er.get_string("port", "5432");
      inv.endpoint.user = er.get_string("user", "postgres");
      inv.endpoint.database = er.get_string("database", "postgres");
      inv.endpoint.password = er.get_string("password", "");
      if (inv.endpoint.kind != "pgpool" && inv.endpoint.kind != "vip" && inv.endpoint.kind != "hostlist")
        ctx.error(er.child("kind"), "endpoint.kind", "must be pgpool, vip or hostlist");
    }
    er.finish();
  }

  {
    MapReader dr(ctx, top.child("driver"), "driver");
    if (dr.valid()) {
      inv.driver.type = dr.get_string("type", "generic");
      inv.driver.pcp_host = dr.get_string("pcp_host", "");
      inv.driver.pcp_port = static_cast<int>(dr.get_int("pcp_port", 9898));
      inv.driver.pcp_user = dr.get_string("pcp_user", "");
      inv.driver.pcp_passfile = dr.get_string("pcp_passfile", "");
      inv.driver.ssh_host = dr.get_string("ssh_host", "");
      auto& d = inv.driver;
      d.model = dr.get_string("model", "replication");
      d.resource = dr.get_string("resource", "");
      d.repl_host = dr.get_string("repl_host", "");
      d.tmpdir = dr.get_string("tmpdir", "/var/lib/pgsql/tmp");
      d.rejoin_script = dr.get_string("rejoin_script", "");
      const bool pcmk = d.type == "pacemaker";
      const bool patroni = d.type == "patroni";
      // The cluster services of a node (pacemaker, patroni): how a planned
      // stop and start of one node is done. pgpool and generic run pg_ctl.
      d.start_command = dr.get_string("start_command", pcmk      ? "systemctl start pacemaker"
                                                       : patroni ? "systemctl start patroni"
                                                                 : "");
      d.stop_command = dr.get_string("stop_command", pcmk      ? "systemctl stop pacemaker corosync"
                                                     : patroni ? "systemctl stop patroni"
                                                               : "");
      for (const char* key : {"start_command", "stop_command"})
        if (!pcmk && !patroni && dr.has(key))
          ctx.error(dr.child(key), std::string("driver.") + key,
                    fmt::format("not used by the {} driver (it runs pg_ctl as postgres.os_user on the node)", d.type));
      d.detect_log = dr.get_string("detect_log", pcmk      ? "/var/log/corosync/corosync.log"
                                                 : patroni ? "/var/log/patroni/patroni.log"
                                                           : "");
      d.detect_pattern = dr.get_string(
          "detect_pattern",
          pcmk ? "A new membership .* was formed"
          : patroni
              ? "Request failed to .*/patroni|Got response from .*/patroni|Lock owner: None|promoted self to leader"
              : "");
      d.rest_port = static_cast<int>(dr.get_int("rest_port", 8008));
      {
        MapReader rr(ctx, dr.child("restart"), "driver.restart");
        if (rr.valid())
          for (auto it = rr.node().begin(); it != rr.node().end(); ++it) {
            const std::string proc = it->first.as<std::string>();
            d.restart_commands[proc] = rr.req_string(proc);
          }
        rr.finish();
      }
      d.patronictl_config = dr.get_string("patronictl_config", "/etc/patroni/config.yml");
      if (d.type != "pgpool" && d.type != "generic" && d.type != "pacemaker" && d.type != "patroni")
        ctx.error(dr.child("type"), "driver.type", "must be pgpool, pacemaker, patroni or generic");
      if (d.model != "replication" && d.model != "shared-disk")
        ctx.error(dr.child("model"), "driver.model", "must be replication or shared-disk");
      if (pcmk && d.resource.empty())
        ctx.error(dr.node(), "driver", "the pacemaker driver needs resource (the pgsql clone or group)");
      if (pcmk && d.model == "replication" && d.repl_host.empty())
        ctx.error(dr.node(), "driver", "the pacemaker replication model needs repl_host (to re-seed a node)");
      if (pcmk && d.rejoin_script.empty())
        ctx.error(dr.node(), "driver", "the pacemaker driver needs rejoin_script (lab/stacks/pacemaker/rejoin.sh)");
      if (inv.driver.type == "pgpool" && (inv.driver.pcp_host.empty() || inv.driver.pcp_user.empty()))
        ctx.error(dr.node(), "driver", "the pgpool driver needs pcp_host and pcp_user");
    }
    dr.finish();
  }
  top.finish();

  // The pgpool host is reachable over SSH (driver.ssh_host) but holds no
  // PostgreSQL: a fault target named `pool` (e.g. process_kill pgpool).
  if (inv.driver.type == "pgpool" && !inv.driver.ssh_host.empty()) {
    NodeSpec pool;
    pool.name = kPoolNode;
    pool.ssh = default_target;
    pool.ssh.host = inv.driver.ssh_host;
    pool.power.controller = "none";
    if (std::any_of(inv.nodes.begin(), inv.nodes.end(), [](const NodeSpec& n) { return n.name == kPoolNode; }))
      ctx.error(root, "nodes",
                fmt::format("the node name '{}' is reserved for the pgpool host (driver.ssh_host)", kPoolNode));
    else
      inv.aux_nodes.push_back(pool);
  }

  // Names end up in shell commands and file names on the nodes.
  auto safe = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
  };
  for (const auto& n : inv.nodes) {
    if (!n.name.empty() && !safe(n.name))
      ctx.error(root, "nodes." + n.name + ".name", "a node name may only hold letters, digits, '-', '_' and '.'");
    for (const auto& i : n.interfaces)
      if (!safe(i.ifname))
        ctx.error(root, "nodes." + n.name + ".interfaces." + i.lan + ".ifname",
                  "an interface name may only hold letters, digits, '-', '_' and '.'");
    if (n.power.controller == "lab" && !inv.lab)
      ctx.error(root, "nodes." + n.name + ".power",
                "controller 'lab' needs a top-level 'lab:' block (script, state_dir)");
    if (n.ssh.key_file.empty()) ctx.error(root, "nodes." + n.name + ".ssh.key", "no SSH key given (set ssh.key)");
    if (n.ssh.known_hosts.empty())
      ctx.error(root, "nodes." + n.name + ".ssh.known_hosts",
                "no known_hosts file given (host keys are always verified)");
    for (const auto& i : n.interfaces)
      if (!inv.lans.empty() && !inv.lan(i.lan))
        ctx.error(root, "nodes." + n.name + ".interfaces." + i.lan,
                  fmt::format("LAN '{}' is not declared under lans:", i.lan));
  }
  ctx.throw_if_errors();
  return inv;
}

Inventory parse_inventory(const std::string& yaml_text, const std::string& name) {
  return parse_inventory_node(load_yaml_string(yaml_text, name), name);
}

Inventory load_inventory(const std::string& path) {
  return parse_inventory_node(load_yaml_file(path), path);
}

}  // namespace haverify
