// The `ssh` blocks of an inventory (the top-level defaults and each node's):
// the target, its OpenSSH config alias (ssh.config) and its jump hosts
// (ssh.jump), for parse_inventory_node (inventory.cpp).
#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "haverify/io/ssh_config.hpp"
#include "inventory_blocks.hpp"

namespace haverify::detail {

namespace {

constexpr std::size_t kMaxJumpHosts = 8;

// ssh.jump[i]: {host, port, user, key, known_hosts}; what it does not give
// comes from the node's own ssh block (finish_ssh).
JumpHop read_jump_hop(ConfigContext& ctx, const YAML::Node& node, const std::string& path) {
  JumpHop hop;
  MapReader r(ctx, node, path);
  if (!r.valid()) return hop;
  hop.target.host = r.req_string("host");
  if (!hop.target.host.empty()) check_host(ctx, r.child("host"), path + ".host", hop.target.host);
  if (hop.target.host.find(',') != std::string::npos)
    ctx.error(r.child("host"), path + ".host", "one address or DNS name per jump host");
  hop.target.port = r.get_port("port", 22);
  hop.user = r.opt_string("user");
  hop.key = r.opt_string("key");
  hop.known_hosts = r.opt_string("known_hosts");
  r.finish();
  return hop;
}

void read_jump(MapReader& r, SshBlock& b) {
  YAML::Node list = r.child("jump");
  if (!list.IsDefined()) return;
  b.jump.emplace();  // given: replaces the defaults' (an empty list: a direct connect)
  if (list.IsNull()) return;
  if (!list.IsSequence()) {
    r.ctx().error(list, r.key_path("jump"),
                  "expected a list of jump hosts, first to last (- {host: bastion.example, user: qa})");
    return;
  }
  if (list.size() > kMaxJumpHosts) {
    r.ctx().error(list, r.key_path("jump"), fmt::format("at most {} jump hosts", kMaxJumpHosts));
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i)
    b.jump->push_back(read_jump_hop(r.ctx(), list[i], fmt::format("{}[{}]", r.key_path("jump"), i)));
}

// libssh 0.10 turns `ProxyJump [user@]host[:port][,rest]` into the command
// `ssh [-l user] [-p port] [-J rest] -W '[%h]:%p' host`: back into hops,
// first to last, or nullopt for any other ProxyCommand.
std::optional<std::vector<std::string>> proxy_jump_hops(const std::string& command) {
  std::vector<std::string> words;
  for (std::size_t i = 0; i < command.size();) {
    const std::size_t end = std::min(command.find(' ', i), command.size());
    if (end > i) words.push_back(command.substr(i, end - i));
    i = end + 1;
  }
  if (words.size() < 4 || words[0] != "ssh") return std::nullopt;
  std::string user, port, rest;
  std::size_t i = 1;
  for (; i + 1 < words.size() && words[i] != "-W"; i += 2) {
    std::string* slot = words[i] == "-l" ? &user : words[i] == "-p" ? &port : words[i] == "-J" ? &rest : nullptr;
    if (slot == nullptr) return std::nullopt;
    *slot = words[i + 1];
  }
  if (i + 3 != words.size() || words[i + 1] != "'[%h]:%p'") return std::nullopt;
  std::string first = words[i + 2];
  if (first.find(':') != std::string::npos) first = "[" + first + "]";
  std::vector<std::string> hops{(user.empty() ? "" : user + "@") + first + (port.empty() ? "" : ":" + port)};
  for (std::size_t start = 0; !rest.empty() && start <= rest.size();) {
    const std::size_t comma = std::min(rest.find(',', start), rest.size());
    hops.push_back(rest.substr(start, comma - start));
    start = comma + 1;
  }
  return hops;
}

// One ProxyJump item, `[user@]host[:port]` (host an alias of the same file,
// a name or an address; [v6]:port), as a hop; false when it cannot be read.
bool parse_jump_item(const std::string& item, const std::string& config, JumpHop& hop) {
  std::string rest = item;
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    hop.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return false;
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return false;
      port = rest.substr(close + 2);
    }
    rest = rest.substr(1, close - 1);
  } else if (const auto colon = rest.find(':'); colon != std::string::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (rest.empty() || (hop.user && (hop.user->empty() || hop.user->find_first_of(" \t") != std::string::npos)))
    return false;
  const std::optional<int> number = port.empty() ? std::nullopt : port_number(port);
  if (!port.empty() && !number) return false;
  const SshConfigHost h = resolve_ssh_config(config, rest);
  hop.target.host = h.host;
  hop.target.port = number ? *number : h.port.value_or(22);
  if (!hop.user && h.user) hop.user = *h.user;
  if (h.key) hop.key = *h.key;
  return true;
}

}  // namespace

bool valid_env_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void read_ssh(MapReader& r, SshBlock& b) {
  SshTarget& t = b.target;
  if (auto v = r.opt_string("host")) t.host = *v;
  if (auto v = r.opt_string("config")) b.config = *v;
  if (auto v = r.opt_string("user")) {
    t.user = *v;
    b.user = true;
  }
  if (auto p = r.opt_port("port")) {
    t.port = *p;
    b.port = true;
  }
  if (auto v = r.opt_string("key")) {
    t.key_file = *v;
    b.key = true;
  }
  if (auto v = r.opt_string("known_hosts")) t.known_hosts = *v;
  if (auto v = r.opt_int("connect_timeout_ms", 1, kMaxDuration.count()))
    t.connect_timeout = std::chrono::milliseconds(*v);
  if (auto v = r.opt_string("passphrase_env")) {
    if (valid_env_name(*v))
      t.passphrase_env = *v;
    else
      r.ctx().error(r.child("passphrase_env"), r.key_path("passphrase_env"),
                    fmt::format("'{}' is not an environment variable name (letters, digits, _; not a digit first): "
                                "name the variable that holds the passphrase, never the passphrase itself",
                                *v));
  }
  if (auto v = r.opt_bool("agent")) t.agent = *v;
  if (auto v = r.opt_string("become")) {
    if (*v == "sudo" || *v == "none")
      t.become = *v == "sudo" ? "sudo" : "";
    else
      r.ctx().error(r.child("become"), r.key_path("become"),
                    "must be sudo or none (how commands get root when the SSH user is not root)");
  }
  read_jump(r, b);
  r.finish();
}

// The top-level ssh: block: defaults for every node's ssh: block.
SshBlock read_default_ssh(MapReader& top, ConfigContext& ctx) {
  SshBlock defaults;
  MapReader sr(ctx, top.child("ssh"), "ssh");
  if (sr.valid()) read_ssh(sr, defaults);
  if (!defaults.target.host.empty())
    ctx.error(sr.child("host"), "ssh.host", "the host belongs in each node's ssh block");
  return defaults;
}

// A ProxyJump of the config file as the node's jump hosts, unless the
// inventory gave its own (ssh.jump wins). A hand-written ProxyCommand is
// refused: haverify never runs a command to reach a node.
void apply_proxy_jump(SshBlock& b, ConfigContext& ctx, const YAML::Node& at, const std::string& path,
                      const std::string& proxy) {
  const auto items = proxy_jump_hops(proxy);
  if (!items) {
    ctx.error(at, path + ".host",
              fmt::format("'{}' is reached through a ProxyCommand in {} ({}): haverify never runs ssh(1) or another "
                          "command to reach a node; use ProxyJump there, or ssh.jump in the inventory",
                          b.target.host, b.config, proxy));
    return;
  }
  if (b.jump) return;
  const auto unreadable = [&](const std::string& item) {
    ctx.error(at, path + ".host",
              fmt::format("the ProxyJump of '{}' in {} cannot be read ('{}'; at most {} hosts of [user@]host[:port])",
                          b.target.host, b.config, item, kMaxJumpHosts));
  };
  if (items->size() > kMaxJumpHosts) return unreadable(items->front());
  b.jump.emplace();
  for (const std::string& item : *items) {
    JumpHop hop;
    try {
      if (!parse_jump_item(item, b.config, hop)) return unreadable(item);
    } catch (const std::exception& e) {
      ctx.error(at, path + ".config", e.what());
      return;
    }
    b.jump->push_back(hop);
  }
}

// ssh.config: the node's host may be an alias of that OpenSSH config file;
// its HostName, and Port, User and IdentityFile where the inventory gives
// none, are taken from it, and its ProxyJump as the jump hosts. haverify's
// host-key rules stay its own (the file's StrictHostKeyChecking and
// UserKnownHostsFile are ignored).
void apply_ssh_config(SshBlock& b, ConfigContext& ctx, const YAML::Node& at, const std::string& path) {
  if (b.config.empty() || b.target.host.empty()) return;
  SshConfigHost h;
  try {
    h = resolve_ssh_config(b.config, b.target.host);
  } catch (const std::exception& e) {
    ctx.error(at, path + ".config", e.what());
    return;
  }
  if (!h.proxy.empty()) apply_proxy_jump(b, ctx, at, path, h.proxy);
  b.target.host = h.host;
  if (h.port && !b.port) b.target.port = *h.port;
  if (h.user && !b.user) b.target.user = *h.user;
  if (h.key && !b.key) b.target.key_file = *h.key;
}

void finish_ssh(SshBlock& b) {
  b.target.jump.clear();
  if (!b.jump) return;
  for (const JumpHop& hop : *b.jump) {
    SshTarget t = b.target;  // the node's agent, passphrase_env and connect deadline
    t.jump.clear();
    t.become.clear();
    t.host = hop.target.host;
    t.port = hop.target.port;
    if (hop.user) t.user = *hop.user;
    if (hop.key) t.key_file = *hop.key;
    if (hop.known_hosts) t.known_hosts = *hop.known_hosts;
    b.target.jump.push_back(std::move(t));
  }
}

}  // namespace haverify::detail
