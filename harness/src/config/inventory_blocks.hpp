#pragma once
// The blocks of an inventory read outside inventory.cpp: `endpoint`,
// `read_endpoint` and `driver` (inventory_blocks.cpp), `ssh`
// (inventory_ssh.cpp); for parse_inventory_node (inventory.cpp).
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify::detail {

// A host haverify connects to (an address, a socket directory or a DNS
// name, or a comma-separated list of them); a bad one goes to ctx.
void check_host(ConfigContext& ctx, const YAML::Node& at, const std::string& key, const std::string& hosts);

// `endpoint` (required) and `read_endpoint` (optional).
void read_endpoints(MapReader& top, const YAML::Node& root, ConfigContext& ctx, Inventory& inv);

// `driver`: the cluster manager, its services, restart commands, watchdog.
void read_driver(MapReader& top, ConfigContext& ctx, Inventory& inv);

// A TCP port written as text ("5432"): 1..65535 in at most five digits;
// nullopt otherwise.
std::optional<int> port_number(const std::string& text);

// An environment variable's name (letters, digits, _; not a digit first).
bool valid_env_name(const std::string& s);

// One ssh.jump item as written: what it leaves out comes from the node.
struct JumpHop {
  SshTarget target;  // host and port
  std::optional<std::string> user, key, known_hosts;
};

// An ssh block's target, the OpenSSH config file it names (`config`), which
// keys it gave itself (they win over the file's values), and its jump hosts
// (nullopt: not given here, a node then takes the defaults').
struct SshBlock {
  SshTarget target;
  std::string config;
  bool user = false, port = false, key = false;
  std::optional<std::vector<JumpHop>> jump;
};

// An ssh block into `b` (over the defaults it holds).
void read_ssh(MapReader& r, SshBlock& b);
// The top-level ssh: block: defaults for every node's ssh: block.
SshBlock read_default_ssh(MapReader& top, ConfigContext& ctx);
// ssh.config: the node's host as an alias of that file (HostName, Port,
// User, IdentityFile, ProxyJump); `at`/`path` for the messages.
void apply_ssh_config(SshBlock& b, ConfigContext& ctx, const YAML::Node& at, const std::string& path);
// b.target.jump from b.jump: each hop takes the node's user, key,
// known_hosts, agent, passphrase_env and connect deadline unless it gives
// its own.
void finish_ssh(SshBlock& b);

}  // namespace haverify::detail
