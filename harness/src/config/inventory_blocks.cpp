#include "inventory_blocks.hpp"

#include <fmt/format.h>

#include "haverify/io/dns.hpp"

namespace haverify::detail {

std::optional<int> port_number(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const int port = std::stoi(text);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

namespace {

// <block>.port: one port, or one per host of a host list ("5432,5433").
void check_endpoint_ports(MapReader& er, const std::string& block, const std::string& ports) {
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = ports.find(',', start);
    const std::string p = ports.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!port_number(p)) {
      er.ctx().error(er.child("port"), block + ".port",
                     fmt::format("'{}' is not a TCP port 1..65535 (or a comma-separated list of them)", ports));
      return;
    }
    if (comma == std::string::npos) return;
    start = comma + 1;
  }
}

// kind dns: `name` (what clients resolve) instead of host, one port, and
// optionally the DNS server to ask.
void read_dns_endpoint(MapReader& er, ConfigContext& ctx, const std::string& block, EndpointSpec& e) {
  e.host = er.req_string("name");
  if (!e.host.empty() && !valid_dns_name(e.host))
    ctx.error(er.child("name"), block + ".name",
              fmt::format("'{}' is not a DNS name (labels of letters, digits and '-', joined by '.')", e.host));
  if (er.has("host")) ctx.error(er.child("host"), block + ".host", "kind dns takes `name` (the DNS name), not host");
  if (e.port.find(',') != std::string::npos) ctx.error(er.child("port"), block + ".port", "kind dns takes one port");
  if (auto v = er.opt_string("server")) {
    std::string why;
    if (parse_dns_server(*v, &why))
      e.dns_server = *v;
    else
      ctx.error(er.child("server"), block + ".server",
                fmt::format("{} (host[:port], e.g. 198.18.1.53 or 127.0.0.1:5353)", why));
  }
}

// An endpoint block (`endpoint`, `read_endpoint`): where clients connect.
EndpointSpec read_endpoint_block(MapReader& er, ConfigContext& ctx, const std::string& block) {
  EndpointSpec e;
  e.kind = er.get_string("kind", "pgpool");
  e.port = er.get_string("port", "5432");
  check_endpoint_ports(er, block, e.port);
  if (e.kind == "dns") {
    read_dns_endpoint(er, ctx, block, e);
  } else {
    e.host = er.req_string("host");
    check_host(ctx, er.child("host"), block + ".host", e.host);
    for (const char* key : {"name", "server"})
      if (er.has(key)) ctx.error(er.child(key), block + "." + key, "only for kind dns");
  }
  e.user = er.get_string("user", "postgres");
  e.database = er.get_string("database", "postgres");
  e.password = er.get_string("password", "");
  if (e.kind != "pgpool" && e.kind != "vip" && e.kind != "hostlist" && e.kind != "dns")
    ctx.error(er.child("kind"), block + ".kind", "must be pgpool, vip, hostlist or dns");
  return e;
}

}  // namespace

void read_endpoints(MapReader& top, const YAML::Node& root, ConfigContext& ctx, Inventory& inv) {
  MapReader er(ctx, top.child("endpoint"), "endpoint");
  if (!er.valid())
    ctx.error(root, "endpoint", "required block is missing (where clients connect)");
  else
    inv.endpoint = read_endpoint_block(er, ctx, "endpoint");
  er.finish();
  MapReader rr(ctx, top.child("read_endpoint"), "read_endpoint");
  if (rr.valid()) inv.read_endpoint = read_endpoint_block(rr, ctx, "read_endpoint");  // empty (null): none
  rr.finish();
}

namespace {

// The cluster services of a node (pacemaker, patroni): how a planned stop
// and start of one node is done, and where the manager notices a failure.
// pgpool and generic run pg_ctl.
void read_driver_services(MapReader& dr, ConfigContext& ctx, DriverSpec& d) {
  const bool pcmk = d.type == "pacemaker";
  const bool patroni = d.type == "patroni";
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
      pcmk      ? "A new membership .* was formed"
      : patroni ? "Request failed to .*/patroni|Got response from .*/patroni|Lock owner: None|promoted self to leader"
                : "");
}

void read_restart_commands(MapReader& dr, ConfigContext& ctx, DriverSpec& d) {
  MapReader rr(ctx, dr.child("restart"), "driver.restart");
  if (rr.valid())
    for (auto it = rr.node().begin(); it != rr.node().end(); ++it) {
      const std::string proc = it->first.Scalar();  // check_yaml_keys: a plain scalar
      d.restart_commands[proc] = rr.req_string(proc);
    }
  rr.finish();
}

// What each driver type needs.
void check_driver(MapReader& dr, ConfigContext& ctx, const DriverSpec& d) {
  const bool pcmk = d.type == "pacemaker";
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
  if (d.type == "pgpool" && (d.pcp_host.empty() || d.pcp_user.empty()))
    ctx.error(dr.node(), "driver", "the pgpool driver needs pcp_host and pcp_user");
}

// driver.watchdog (pgpool only): the delegate IP and the nodes running a pgpool.
void read_watchdog(MapReader& dr, ConfigContext& ctx, Inventory& inv) {
  MapReader w(ctx, dr.child("watchdog"), "driver.watchdog");
  if (w.valid()) {
    WatchdogSpec spec;
    // Without a VIP the endpoint is a DNS name that the escalation points at
    // the leader: the leader is the node holding the address it resolves to.
    if (inv.endpoint.kind == "dns")
      spec.vip = w.get_string("vip", "");
    else
      spec.vip = w.req_string("vip");
    if (!spec.vip.empty() && (!is_ip_literal(spec.vip) || spec.vip.find(':') != std::string::npos))
      ctx.error(w.child("vip"), "driver.watchdog.vip", fmt::format("'{}' is not an IPv4 address", spec.vip));
    const YAML::Node list = w.child("nodes");
    if (list.IsDefined() && !list.IsNull()) {
      if (!list.IsSequence() || list.size() == 0)
        ctx.error(list, "driver.watchdog.nodes", "expected a non-empty list of node names");
      else
        for (const auto& x : list) {
          const std::string n = x.IsScalar() ? x.Scalar() : std::string();
          const bool known =
              std::any_of(inv.nodes.begin(), inv.nodes.end(), [&](const NodeSpec& s) { return s.name == n; });
          if (!known || std::count(spec.nodes.begin(), spec.nodes.end(), n))
            ctx.error(x, "driver.watchdog.nodes",
                      fmt::format("'{}' is {} node of nodes:", n, known ? "listed twice: each" : "not a"));
          spec.nodes.push_back(n);
        }
    } else {
      for (const auto& n : inv.nodes) spec.nodes.push_back(n.name);
    }
    if (inv.driver.type != "pgpool") ctx.error(dr.child("watchdog"), "driver.watchdog", "only for the pgpool driver");
    inv.driver.watchdog = spec;
  }
  w.finish();
}

}  // namespace

void read_driver(MapReader& top, ConfigContext& ctx, Inventory& inv) {
  MapReader dr(ctx, top.child("driver"), "driver");
  if (dr.valid()) {
    DriverSpec& d = inv.driver;
    d.type = dr.get_string("type", "generic");
    d.pcp_host = dr.get_string("pcp_host", "");
    d.pcp_port = dr.get_port("pcp_port", 9898);
    d.pcp_user = dr.get_string("pcp_user", "");
    d.pcp_passfile = dr.get_string("pcp_passfile", "");
    d.pcp_bin_dir = dr.get_string("pcp_bin_dir", "");
    d.ssh_host = dr.get_string("ssh_host", "");
    d.model = dr.get_string("model", "replication");
    d.resource = dr.get_string("resource", "");
    d.repl_host = dr.get_string("repl_host", "");
    d.tmpdir = dr.get_string("tmpdir", "/var/lib/pgsql/tmp");
    d.rejoin_script = dr.get_string("rejoin_script", "");
    read_driver_services(dr, ctx, d);
    // Patroni's REST port: accepted (haverify-lab's patroni inventories
    // carry it) but unused: the driver runs patronictl over SSH.
    dr.get_port("rest_port", 8008);
    read_restart_commands(dr, ctx, d);
    d.patronictl_config = dr.get_string("patronictl_config", "/etc/patroni/config.yml");
    check_driver(dr, ctx, d);
    read_watchdog(dr, ctx, inv);
  }
  dr.finish();
}

}  // namespace haverify::detail
