#pragma once
// The cluster under test, read from YAML (see docs/inventory.md).
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "haverify/io/transport.hpp"

namespace haverify {

struct LanSpec {
  std::string name;  // management | service | replication | interconnect | any name
  std::string subnet;
  // The cluster manager watches this LAN and moves the primary off a node
  // that loses it (a Pacemaker ping resource): a cut is then a failover.
  bool monitored = false;
};

struct InterfaceSpec {
  std::string lan;
  std::string ifname;
  std::string address;  // CIDR
};

// "10.0.0.1/24" -> "10.0.0.1".
std::string address_without_prefix(const std::string& cidr);

struct PostgresSpec {
  std::string host;
  int port = 5432;
  std::string user = "postgres";
  std::string database = "postgres";
  std::string password;
  std::string data_dir = "/var/lib/postgresql/15/main";
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string os_user = "postgres";
  // The server log when haverify starts PostgreSQL itself (pg_ctl -l; the
  // pgpool and generic drivers). Empty: /var/log/postgresql/postgresql-
  // <major>-main.log if that directory exists, else a file in data_dir.
  std::string log_file;
  // How the probes reach this server: `direct` (libpq to host:port) or `ssh`
  // (psql run on the node over its kept SSH session, for clusters whose
  // PostgreSQL is not reachable from the harness host).
  std::string probe = "direct";
};

struct PowerSpec {
  std::string controller = "lab";  // lab | command | ipmi | none (aux nodes: no power control)
  std::string run_on = "local";    // local | ssh
  std::string off, on, status;     // templates for controller=command
  std::map<std::string, std::string> vars;
  // command: `status` (read, strictly, after a power-off and before a
  // power-on) or `none` (no status template: the power-off is not verified,
  // and the row says so).
  std::string verify = "status";
  // ipmi: haverify runs ipmitool on the harness host (docs/inventory.md,
  // "Power controllers").
  std::string bmc;  // the BMC's address or DNS name
  int bmc_port = 623;
  std::string user;
  std::string password_file;          // ipmitool -f FILE
  std::string password_env;           // or the variable holding the password (ipmitool -E)
  int cipher_suite = 3;               // -C: 3 (HMAC-SHA1, AES-128) unless the BMC needs another; never 0
  std::string interface = "lanplus";  // lanplus (IPMI 2.0) | lan (IPMI 1.5)
};

struct NodeSpec {
  std::string name;
  SshTarget ssh;
  std::vector<InterfaceSpec> interfaces;
  PostgresSpec postgres;
  PowerSpec power;
  const InterfaceSpec* interface_on(const std::string& lan) const;
};

struct EndpointSpec {
  std::string kind = "pgpool";  // pgpool | vip | hostlist | dns
  // kind dns: the DNS name (inventory key `name`), resolved by haverify
  // itself within each connect's deadline (io/dns.hpp). Any other kind: an
  // address, a host list or a host name (a name is resolved the same way,
  // by the system resolver).
  std::string host;
  // kind dns: the DNS server asked ("host[:port]"); empty: the system resolver.
  std::string dns_server;
  std::string port = "5432";
  std::string user = "postgres";
  std::string database = "postgres";
  std::string password;
};

// pgpool-II's watchdog: a pgpool on each of `nodes`, the leader holding the
// delegate IP `vip` (the endpoint's host, usually). The roles pool_leader
// (the node holding the VIP) and pool_standby, the probes' VIP samples
// (vip_s, the single_vip checker) come from it.
struct WatchdogSpec {
  // An IPv4 address; empty with a DNS endpoint (kind dns): the leader is then
  // the node holding the address the endpoint's name resolves to.
  std::string vip;
  std::vector<std::string> nodes;  // inventory nodes that run a pgpool; default: every node
};

struct DriverSpec {
  std::string type = "generic";  // pgpool | pacemaker | patroni | generic
  // pgpool
  std::string pcp_host;
  int pcp_port = 9898;
  std::string pcp_user;
  std::string pcp_passfile;
  // Where the pcp_* tools are on the harness host (the driver runs them
  // there, against pcp_host); empty: found on PATH.
  std::string pcp_bin_dir;
  std::string ssh_host;
  std::optional<WatchdogSpec> watchdog;
  // pacemaker: model replication (promotable pgsql clone) | shared-disk (a
  // group that moves); the resource haverify asks about and moves.
  std::string model = "replication";
  std::string resource;
  std::string repl_host;  // where a re-seeded node takes its base backup (replication VIP)
  std::string tmpdir;     // pgsql RA tmpdir (PGSQL.lock)
  // A script on the harness host that the driver pushes over SSH and runs on
  // a node to rejoin it: pacemaker (required): lab/stacks/pacemaker/rejoin.sh's
  // arguments; pgpool, generic (optional, default haverify's
  // lab/scripts/pg-rejoin.sh): pg-rejoin.sh's (docs/inventory.md "Drivers").
  std::string rejoin_script;
  // pacemaker, patroni: start / stop the cluster services on one node (run
  // there over SSH; defaults: systemctl start|stop of the manager).
  std::string start_command;
  std::string stop_command;
  // Where the manager notices a failure (t_detect): a log on the nodes and
  // an extended regex; lines carry a syslog ("Nov 21 12:00:00.123") or ISO
  // ("2026-11-21 12:00:00,123") timestamp.
  std::string detect_log;
  std::string detect_pattern;
  // Per process selector (e.g. pgpool): the shell command that starts it
  // again if it is not running; the heal of a SIGKILL of that process.
  std::map<std::string, std::string> restart_commands;
  // patroni: patronictl's config file on the nodes (the driver runs
  // patronictl over SSH; a `rest_port:` key is accepted and ignored).
  std::string patronictl_config;
};

struct LabSpec {
  std::string script;
  std::string state_dir;
};

struct Inventory {
  std::string file;
  std::string name;
  std::string stack;
  std::string profile = "default";
  // The storage under the data directories as the inventory says it (the lab:
  // `lab up --disk`, docs/lab.md); empty when it does not say.
  std::string disk;
  std::vector<LanSpec> lans;
  std::vector<NodeSpec> nodes;      // the PostgreSQL nodes
  std::vector<NodeSpec> aux_nodes;  // other hosts faults may target over SSH: the pgpool host (`pool`)
  EndpointSpec endpoint;
  // Where reads go when the application sends them elsewhere than its
  // writes (a replica service, a reader endpoint); the `reads` workload
  // reads there. nullopt: reads share the endpoint's connection.
  std::optional<EndpointSpec> read_endpoint;
  DriverSpec driver;
  std::optional<LabSpec> lab;

  const NodeSpec* node(const std::string& name) const;  // a PostgreSQL node or an aux node
  const LanSpec* lan(const std::string& name) const;
};

// The aux node of the pgpool host (driver.ssh_host), a fault target.
inline constexpr const char* kPoolNode = "pool";

// Parses and validates; throws ConfigError listing every problem with file:line:col.
Inventory load_inventory(const std::string& path);
Inventory parse_inventory(const std::string& yaml_text, const std::string& name);

}  // namespace haverify
