#pragma once
// A host alias of an OpenSSH client config file (~/.ssh/config), resolved the
// way libssh reads it: HostName, Port, User, IdentityFile. haverify takes
// only these; it never runs ssh(1) for a ProxyCommand or ProxyJump, and its
// host-key rules stay its own (StrictHostKeyChecking and UserKnownHostsFile
// of the file are ignored). docs/inventory.md, "Real clusters".
#include <optional>
#include <string>

namespace haverify {

struct SshConfigHost {
  std::string host;                 // HostName, else the alias itself
  std::optional<int> port;          // Port, when the file sets one
  std::optional<std::string> user;  // User, when the file sets one
  std::optional<std::string> key;   // IdentityFile, when the file sets one (~ and %d expanded)
  std::string proxy;                // ProxyJump / ProxyCommand as libssh turned it into a command; "" none
};

// Throws std::runtime_error naming the file when libssh cannot read it.
SshConfigHost resolve_ssh_config(const std::string& file, const std::string& alias);

}  // namespace haverify
