#include "haverify/config/inventory.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/io/dns.hpp"
#include "inventory_blocks.hpp"

namespace haverify {

std::string address_without_prefix(const std::string& cidr) {
  return cidr.substr(0, cidr.find('/'));
}

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

namespace detail {

// A host haverify connects to (postgres.host, endpoint.host, each host of
// a host list): an address, a Unix socket directory, or a DNS name, which
// haverify resolves itself within the connect deadline (io/dns.hpp).
void check_host(ConfigContext& ctx, const YAML::Node& at, const std::string& key, const std::string& hosts) {
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = hosts.find(',', start);
    const std::string h = hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (is_host_name(h) && !valid_dns_name(h)) {
      ctx.error(at, key,
                fmt::format("'{}' is neither an IP address, a socket directory nor a DNS name (labels of letters, "
                            "digits and '-', joined by '.')",
                            h));
      return;
    }
    if (comma == std::string::npos) return;
    start = comma + 1;
  }
}

}  // namespace detail

namespace {

using detail::apply_ssh_config;
using detail::check_host;
using detail::finish_ssh;
using detail::read_default_ssh;
using detail::read_driver;
using detail::read_endpoints;
using detail::read_ssh;
using detail::SshBlock;
using detail::valid_env_name;

// power.vars: name: value, the template variables of a command controller.
void read_power_vars(MapReader& r, PowerSpec& p, ConfigContext& ctx) {
  YAML::Node vars = r.child("vars");
  if (!vars.IsDefined() || vars.IsNull()) return;
  if (!vars.IsMap()) {
    ctx.error(vars, r.key_path("vars"), "expected a mapping of name: value");
    return;
  }
  MapReader vr(ctx, vars, r.key_path("vars"));
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    const std::string name = it->first.Scalar();  // check_yaml_keys: a plain scalar
    if (!valid_name(name))
      ctx.error(it->first, vr.key_path(name), fmt::format("not a valid variable name ({})", kNameRule));
    else if (auto v = vr.opt_string(name))
      p.vars[name] = *v;
    vr.child(name);
  }
  vr.finish();
}

// controller: command: off and on templates, and a status template unless verify: none.
void read_command_power(MapReader& r, PowerSpec& p, ConfigContext& ctx) {
  p.off = r.get_string("off", "");
  p.on = r.get_string("on", "");
  p.status = r.get_string("status", "");
  p.verify = r.get_string("verify", "status");
  read_power_vars(r, p, ctx);
  if (p.off.empty() || p.on.empty())
    ctx.error(r.node(), r.path(), "a command power controller needs both 'off' and 'on' templates");
  if (p.verify != "status" && p.verify != "none")
    ctx.error(r.child("verify"), r.key_path("verify"), "must be status or none");
  else if (p.verify == "status" && p.status.empty())
    ctx.error(r.node(), r.key_path("status"),
              "required key is missing: the command that reads the node's power (its output must end in 'on' or "
              "'off'), which proves a power-off took effect and tells recover what to power on; without one, say "
              "verify: none (the power-off is then not verified, and each row says so)");
  else if (p.verify == "none" && !p.status.empty())
    ctx.error(r.child("verify"), r.key_path("verify"), "none, but a status template is given: drop one of them");
}

// controller: ipmi: haverify runs ipmitool itself.
void read_ipmi_power(MapReader& r, PowerSpec& p, ConfigContext& ctx) {
  p.bmc = r.req_string("bmc");
  check_host(ctx, r.child("bmc"), r.key_path("bmc"), p.bmc);
  if (p.bmc.find(',') != std::string::npos || p.bmc.find('/') != std::string::npos)
    ctx.error(r.child("bmc"), r.key_path("bmc"), "one address or DNS name (the port is `port`)");
  p.bmc_port = r.get_port("port", 623);
  p.user = r.req_string("user");
  p.password_file = r.get_string("password_file", "");
  p.password_env = r.get_string("password_env", "");
  if (p.password_file.empty() == p.password_env.empty())
    ctx.error(r.node(), r.key_path("password_file"),
              "give exactly one of password_file (a file holding the BMC password, mode 0600) and password_env (the "
              "variable that holds it)");
  if (!p.password_env.empty() && !valid_env_name(p.password_env))
    ctx.error(r.child("password_env"), r.key_path("password_env"), "not an environment variable name");
  p.cipher_suite = r.get_int<int>("cipher_suite", 3, 1, 17);
  p.interface = r.get_string("interface", "lanplus");
  if (p.interface != "lanplus" && p.interface != "lan")
    ctx.error(r.child("interface"), r.key_path("interface"), "must be lanplus (IPMI 2.0) or lan (IPMI 1.5)");
  for (const char* key : {"off", "on", "status", "vars", "verify"})
    if (r.has(key)) ctx.error(r.child(key), r.key_path(key), "not for controller ipmi: haverify runs ipmitool itself");
}

void read_power(MapReader& r, PowerSpec& p, ConfigContext& ctx) {
  p.controller = r.get_string("controller", "lab");
  p.run_on = r.get_string("run_on", "local");
  if (p.run_on != "local" && p.run_on != "ssh")
    ctx.error(r.child("run_on"), r.key_path("run_on"), "must be local or ssh");
  if (p.controller == "command") {
    read_command_power(r, p, ctx);
  } else if (p.controller == "ipmi") {
    read_ipmi_power(r, p, ctx);
  } else if (p.controller != "lab") {
    ctx.error(r.child("controller"), r.key_path("controller"),
              fmt::format("unknown power controller '{}' (use lab, ipmi or command)", p.controller));
  }
  r.finish();
}

void read_lans(MapReader& top, ConfigContext& ctx, Inventory& inv) {
  YAML::Node lans = top.child("lans");
  MapReader lr(ctx, lans, "lans");
  if (lr.valid()) {
    for (auto it = lans.begin(); it != lans.end(); ++it) {
      LanSpec l;
      l.name = it->first.Scalar();  // check_yaml_keys: a plain scalar
      if (!valid_name(l.name))
        ctx.error(it->first, "lans." + l.name, fmt::format("not a valid LAN name ({})", kNameRule));
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

void read_lab(MapReader& top, ConfigContext& ctx, Inventory& inv) {
  MapReader lab(ctx, top.child("lab"), "lab");
  if (lab.valid()) {
    LabSpec spec;
    spec.script = lab.req_string("script");
    spec.state_dir = lab.get_string("state_dir", "");
    inv.lab = spec;
  }
  lab.finish();
}

void read_interfaces(MapReader& nr, ConfigContext& ctx, const std::string& path, NodeSpec& n) {
  YAML::Node ifs = nr.child("interfaces");
  MapReader ir(ctx, ifs, path + ".interfaces");
  if (ir.valid()) {
    for (auto it = ifs.begin(); it != ifs.end(); ++it) {
      InterfaceSpec spec;
      spec.lan = it->first.Scalar();  // check_yaml_keys: a plain scalar
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

// `node` is the node's own mapping (where a missing block is reported).
void read_postgres(MapReader& nr, ConfigContext& ctx, const YAML::Node& node, const std::string& path, NodeSpec& n) {
  MapReader pr(ctx, nr.child("postgres"), path + ".postgres");
  if (!pr.valid()) {
    ctx.error(node, path + ".postgres", "required block is missing");
  } else {
    PostgresSpec& pg = n.postgres;
    pg.host = pr.get_string("host", n.ssh.host);
    check_host(ctx, pr.has("host") ? pr.child("host") : node, path + ".postgres.host", pg.host);
    pg.port = pr.get_port("port", 5432);
    pg.user = pr.get_string("user", "postgres");
    pg.database = pr.get_string("database", "postgres");
    pg.password = pr.get_string("password", "");
    // layout: where the distribution's packages put PostgreSQL <major>;
    // data_dir and bin_dir, when given, win.
    const std::string layout = pr.get_string("layout", "debian");
    const int major = pr.get_int<int>("major", 15, 9, 99);
    if (layout == "rhel") {
      pg.data_dir = fmt::format("/var/lib/pgsql/{}/data", major);
      pg.bin_dir = fmt::format("/usr/pgsql-{}/bin", major);
    } else if (layout == "debian") {
      pg.data_dir = fmt::format("/var/lib/postgresql/{}/main", major);
      pg.bin_dir = fmt::format("/usr/lib/postgresql/{}/bin", major);
    } else {
      ctx.error(pr.child("layout"), path + ".postgres.layout",
                "must be debian (/usr/lib/postgresql/<major>/bin, /var/lib/postgresql/<major>/main) or rhel "
                "(/usr/pgsql-<major>/bin, /var/lib/pgsql/<major>/data)");
    }
    pg.data_dir = pr.get_string("data_dir", pg.data_dir);
    pg.bin_dir = pr.get_string("bin_dir", pg.bin_dir);
    pg.os_user = pr.get_string("os_user", "postgres");
    pg.log_file = pr.get_string("log_file", "");
    pg.probe = pr.get_string("probe", "direct");
    if (pg.probe != "direct" && pg.probe != "ssh")
      ctx.error(pr.child("probe"), path + ".postgres.probe", "must be direct or ssh");
  }
  pr.finish();
}

// nodes[i]; nullopt when it is not a mapping (reported by MapReader).
std::optional<NodeSpec> read_node(const YAML::Node& node, const std::string& path, ConfigContext& ctx,
                                  const SshBlock& default_ssh, std::set<std::string>& seen) {
  MapReader nr(ctx, node, path);
  if (!nr.valid()) return std::nullopt;
  NodeSpec n;
  n.name = nr.req_string("name");
  if (!n.name.empty() && !valid_name(n.name))
    ctx.error(nr.child("name"), path + ".name", fmt::format("'{}' is not a valid node name ({})", n.name, kNameRule));
  else if (!n.name.empty() && !seen.insert(n.name).second)
    ctx.error(nr.child("name"), path + ".name", fmt::format("duplicate node name '{}'", n.name));
  {
    SshBlock b = default_ssh;
    MapReader s(ctx, nr.child("ssh"), path + ".ssh");
    if (s.valid()) read_ssh(s, b);
    if (b.target.host.empty()) ctx.error(node, path + ".ssh.host", "required key is missing");
    apply_ssh_config(b, ctx, s.valid() ? nr.child("ssh") : node, path + ".ssh");
    finish_ssh(b);
    n.ssh = b.target;
  }
  read_interfaces(nr, ctx, path, n);
  read_postgres(nr, ctx, node, path, n);
  {
    MapReader pw(ctx, nr.child("power"), path + ".power");
    if (pw.valid()) read_power(pw, n.power, ctx);
  }
  nr.finish();
  return n;
}

void read_nodes(MapReader& top, const YAML::Node& root, ConfigContext& ctx, const SshBlock& default_ssh,
                Inventory& inv) {
  YAML::Node nodes = top.child("nodes");
  if (!nodes.IsDefined() || !nodes.IsSequence() || nodes.size() == 0) {
    ctx.error(nodes.IsDefined() ? nodes : root, "nodes", "expected a non-empty list of nodes");
    return;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (auto n = read_node(nodes[i], fmt::format("nodes[{}]", i), ctx, default_ssh, seen))
      inv.nodes.push_back(std::move(*n));
  }
}

// The pgpool host is reachable over SSH (driver.ssh_host) but holds no
// PostgreSQL: a fault target named `pool` (e.g. process_kill pgpool).
void add_pool_node(const YAML::Node& root, ConfigContext& ctx, const SshBlock& default_ssh, Inventory& inv) {
  if (inv.driver.type != "pgpool" || inv.driver.ssh_host.empty()) return;
  NodeSpec pool;
  pool.name = kPoolNode;
  SshBlock b = default_ssh;
  finish_ssh(b);
  pool.ssh = b.target;
  pool.ssh.host = inv.driver.ssh_host;
  pool.power.controller = "none";
  if (std::any_of(inv.nodes.begin(), inv.nodes.end(), [](const NodeSpec& n) { return n.name == kPoolNode; }))
    ctx.error(root, "nodes",
              fmt::format("the node name '{}' is reserved for the pgpool host (driver.ssh_host)", kPoolNode));
  else
    inv.aux_nodes.push_back(pool);
}

// What only the whole inventory can tell about each node.
void check_nodes(const YAML::Node& root, ConfigContext& ctx, const Inventory& inv) {
  for (const auto& n : inv.nodes) {
    const std::string at = "nodes." + n.name;
    for (const auto& i : n.interfaces)
      if (!valid_name(i.ifname, 15))
        ctx.error(root, at + ".interfaces." + i.lan + ".ifname",
                  fmt::format("'{}' is not an interface name (Linux: at most 15 characters; {})", i.ifname, kNameRule));
    if (n.power.controller == "lab" && !inv.lab)
      ctx.error(root, at + ".power", "controller 'lab' needs a top-level 'lab:' block (script, state_dir)");
    if (n.ssh.key_file.empty() && !n.ssh.agent)
      ctx.error(root, at + ".ssh.key", "no SSH key given (set ssh.key, or ssh.agent: true)");
    if (!n.ssh.passphrase_env.empty() && n.ssh.key_file.empty())
      ctx.error(root, at + ".ssh.passphrase_env", "a passphrase needs a key file (ssh.key)");
    if (n.ssh.known_hosts.empty())
      ctx.error(root, at + ".ssh.known_hosts", "no known_hosts file given (host keys are always verified)");
    for (const auto& i : n.interfaces)
      if (!inv.lans.empty() && !inv.lan(i.lan))
        ctx.error(root, at + ".interfaces." + i.lan, fmt::format("LAN '{}' is not declared under lans:", i.lan));
  }
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
  inv.disk = top.get_string("disk", "");
  read_lans(top, ctx, inv);
  const SshBlock default_ssh = read_default_ssh(top, ctx);
  read_lab(top, ctx, inv);
  read_nodes(top, root, ctx, default_ssh, inv);
  read_endpoints(top, root, ctx, inv);
  read_driver(top, ctx, inv);
  top.finish();
  add_pool_node(root, ctx, default_ssh, inv);
  check_nodes(root, ctx, inv);
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
