// The SSH connect: target checks, key, options, connect, host key
// verification and authentication, each a step with its own message; and the
// libssh helpers shared with exec (transport_ssh.cpp).
#include "ssh_session.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace haverify::ssh {
namespace {

using std::chrono::milliseconds;

struct KeyDeleter {
  void operator()(ssh_key k) const noexcept { ssh_key_free(k); }
};
struct CharDeleter {  // strings allocated by libssh
  void operator()(char* p) const noexcept { ssh_string_free_char(p); }
};
struct HashDeleter {
  void operator()(unsigned char* p) const noexcept { ssh_clean_pubkey_hash(&p); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;
using CharPtr = std::unique_ptr<char, CharDeleter>;
using HashPtr = std::unique_ptr<unsigned char, HashDeleter>;

void on_exit_status(ssh_session, ssh_channel, int exit_status, void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  info->have_status = true;
  info->status = exit_status;
}
void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*, void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  info->signal = signal != nullptr ? signal : "?";
}

// How the host appears in a known_hosts file.
std::string known_hosts_name(const SshTarget& t) {
  return t.port == 22 ? t.host : fmt::format("[{}]:{}", t.host, t.port);
}

std::string server_key_desc(ssh_session s) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK || raw == nullptr) return "unknown key";
  KeyPtr key(raw);
  unsigned char* hraw = nullptr;
  size_t hlen = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hraw, &hlen) != 0)
    return ssh_key_type_to_char(ssh_key_type(key.get()));
  HashPtr hash(hraw);
  CharPtr fp(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash.get(), hlen));
  return fmt::format("{} key {}", ssh_key_type_to_char(ssh_key_type(key.get())), fp ? fp.get() : "?");
}

// Re-arms the libssh blocking timeout to what is left of the budget.
bool arm_timeout(ssh_session s, Clock::time_point until) {
  long ms = remaining_ms(until);
  if (ms <= 0) return false;
  long sec = ms / 1000;
  long usec = (ms % 1000) * 1000;
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
  return true;
}

// The target as configured: host, port, known_hosts and key file present.
void check_target(const SshTarget& t) {
  namespace fs = std::filesystem;
  const std::string where = where_of(t);
  if (t.host.empty()) throw TransportError(fmt::format("{}: no host configured", where));
  if (t.port <= 0 || t.port > 65535) throw TransportError(fmt::format("{}: invalid port {}", where, t.port));
  if (t.known_hosts.empty())
    throw TransportError(
        fmt::format("{}: no known_hosts file configured; haverify only trusts host keys listed in an "
                    "explicit known_hosts file (set it in the inventory)",
                    where));
  std::error_code ec;
  if (!fs::is_regular_file(t.known_hosts, ec))
    throw TransportError(
        fmt::format("{}: known_hosts file {} does not exist or is not a regular file; create it with "
                    "the node's verified host key (e.g. ssh-keyscan -p {} {} >> {}, after checking the "
                    "fingerprint)",
                    where, t.known_hosts, t.port, t.host, t.known_hosts));
  if (t.key_file.empty() && !t.agent)
    throw TransportError(fmt::format(
        "{}: no private key file configured and no agent (set ssh.key, or ssh.agent: true, in the inventory)", where));
  if (!t.key_file.empty() && !fs::is_regular_file(t.key_file, ec))
    throw TransportError(
        fmt::format("{}: private key file {} does not exist or is not a regular file; fix key_file in "
                    "the inventory",
                    where, t.key_file));
}

// libssh's passphrase callback: never prompt (a prompt on the terminal would
// wait for a person; OpenSSL asks for a PEM key's passphrase by itself
// when no callback is given).
int no_prompt(const char*, char*, size_t, int, int, void*) {
  return -1;
}

// The key file, decrypted with the passphrase from t.passphrase_env if set;
// null when no key file is configured (agent only).
KeyPtr load_key(const SshTarget& t) {
  if (t.key_file.empty()) return nullptr;
  const char* passphrase = nullptr;
  if (!t.passphrase_env.empty()) {
    passphrase = std::getenv(t.passphrase_env.c_str());
    if (passphrase == nullptr)
      throw TransportError(
          fmt::format("{}: the passphrase of key {} is read from the environment variable {}, which is not set; "
                      "export it before running haverify (never write it into the inventory), or use ssh.agent",
                      where_of(t), t.key_file, t.passphrase_env));
  }
  ssh_key kraw = nullptr;
  const int rc = ssh_pki_import_privkey_file(t.key_file.c_str(), passphrase, no_prompt, nullptr, &kraw);
  if (rc == SSH_OK && kraw != nullptr) return KeyPtr(kraw);
  if (rc == SSH_EOF)
    throw TransportError(fmt::format("{}: private key file {} cannot be read (permissions?)", where_of(t), t.key_file));
  throw TransportError(
      passphrase != nullptr
          ? fmt::format("{}: could not load private key {} with the passphrase from ${} (wrong passphrase, or "
                        "not a private key libssh reads)",
                        where_of(t), t.key_file, t.passphrase_env)
          : fmt::format("{}: could not load private key {} (not a private key libssh reads, or "
                        "passphrase-protected: name the variable that holds the passphrase in "
                        "ssh.passphrase_env, or use ssh.agent)",
                        where_of(t), t.key_file));
}

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly `n` bytes before `until`; false on EOF, error or deadline.
bool read_full(int fd, unsigned char* buf, std::size_t n, Clock::time_point until) {
  std::size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    const long left = remaining_ms(until);
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    const ssize_t r = ::recv(fd, buf + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// A connection to the ssh-agent at $SSH_AUTH_SOCK that listed its keys
// before `until` (libssh's own agent calls wait forever on an agent that
// does not answer); the number of keys in `keys`. Throws with the reason.
int open_agent(const SshTarget& t, Clock::time_point until, std::uint32_t* keys) {
  const char* path = std::getenv("SSH_AUTH_SOCK");
  if (path == nullptr || *path == '\0')
    throw TransportError(
        fmt::format("{}: ssh.agent is set but SSH_AUTH_SOCK is not: start ssh-agent and ssh-add "
                    "the key, or forward the agent to where haverify runs",
                    where_of(t)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof addr.sun_path)
    throw TransportError(fmt::format("{}: SSH_AUTH_SOCK {} is too long for a socket path", where_of(t), path));
  std::strcpy(addr.sun_path, path);
  FdCloser fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (fd.fd < 0 || ::connect(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw TransportError(fmt::format("{}: cannot connect to the ssh-agent at SSH_AUTH_SOCK={}: {}", where_of(t), path,
                                     std::strerror(errno)));
  static constexpr unsigned char kRequestIdentities[] = {0, 0, 0, 1, 11};
  unsigned char head[9];
  if (::send(fd.fd, kRequestIdentities, sizeof kRequestIdentities, MSG_NOSIGNAL) !=
          static_cast<ssize_t>(sizeof kRequestIdentities) ||
      !read_full(fd.fd, head, sizeof head, until) || head[4] != 12 /* IDENTITIES_ANSWER */)
    throw TransportError(
        fmt::format("{}: the ssh-agent at {} did not list its keys within the connect deadline", where_of(t), path));
  const std::uint32_t len = (std::uint32_t{head[0]} << 24) | (head[1] << 16) | (head[2] << 8) | head[3];
  *keys = (std::uint32_t{head[5]} << 24) | (head[6] << 16) | (head[7] << 8) | head[8];
  if (len < 5 || len > 256 * 1024)
    throw TransportError(fmt::format("{}: the ssh-agent at {} sent a malformed answer", where_of(t), path));
  std::vector<unsigned char> rest(len - 5);
  if (!read_full(fd.fd, rest.data(), rest.size(), until))
    throw TransportError(fmt::format("{}: the ssh-agent at {} did not finish its answer", where_of(t), path));
  const int out = fd.fd;
  fd.fd = -1;
  return out;
}

// A new session for the target; never reads ~/.ssh/config or
// /etc/ssh/ssh_config, and trusts only the target's known_hosts.
SessionPtr new_session(const SshTarget& t) {
  const std::string where = where_of(t);
  SessionPtr s(ssh_new());
  if (!s) throw TransportError(fmt::format("{}: ssh_new failed (out of memory?)", where));
  auto set = [&](ssh_options_e opt, const void* value, const char* name) {
    if (ssh_options_set(s.get(), opt, value) != SSH_OK)
      throw TransportError(fmt::format("{}: cannot set ssh option {}: {}", where, name, ssh_err(s.get())));
  };
  const bool process_config = false;
  const int verbosity = SSH_LOG_NOLOG;
  const int nodelay = 1;
  const unsigned int port = static_cast<unsigned int>(t.port);
  set(SSH_OPTIONS_PROCESS_CONFIG, &process_config, "ProcessConfig");
  set(SSH_OPTIONS_LOG_VERBOSITY, &verbosity, "LogVerbosity");
  set(SSH_OPTIONS_HOST, t.host.c_str(), "Host");
  set(SSH_OPTIONS_PORT, &port, "Port");
  set(SSH_OPTIONS_USER, t.user.c_str(), "User");
  set(SSH_OPTIONS_KNOWNHOSTS, t.known_hosts.c_str(), "KnownHosts");
  set(SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null", "GlobalKnownHosts");
  set(SSH_OPTIONS_NODELAY, &nodelay, "NoDelay");
  return s;
}

ConnectTimeout timed_out(const SshTarget& t, long budget_ms, const char* step) {
  return ConnectTimeout(
      fmt::format("{}: timed out after {} ms {}; check that the node is up and reachable and that sshd "
                  "is answering on port {}",
                  where_of(t), budget_ms, step, t.port));
}

// over_fd: ssh_connect is called even when no time is left (with 1 ms), as
// only a session that tried to connect closes the fd it was given.
void connect_session(ssh_session s, const SshTarget& t, Clock::time_point until, long budget_ms, bool over_fd) {
  if (!arm_timeout(s, until)) {
    if (!over_fd) throw timed_out(t, budget_ms, "before connecting");
    arm_timeout(s, Clock::now() + milliseconds(1));
  }
  if (ssh_connect(s) == SSH_OK) return;
  std::string e = ssh_err(s);
  if (remaining_ms(until) <= 0 || e.find("imeout") != std::string::npos)
    throw ConnectTimeout(
        fmt::format("{}: connect timed out after {} ms ({}); the node may be powered off, partitioned, "
                    "or sshd is not answering on port {}",
                    where_of(t), budget_ms, e, t.port));
  throw TransportError(
      fmt::format("{}: connect failed: {}; check that the node is up, sshd listens on port {} and no "
                  "firewall blocks it",
                  where_of(t), e, t.port));
}

// Host key: only the configured known_hosts file counts; never add keys.
void verify_host_key(ssh_session s, const SshTarget& t) {
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return;
    case SSH_KNOWN_HOSTS_CHANGED:
      throw TransportError(
          fmt::format("host key for {} does not match known_hosts {} (possible MITM or re-installed host); "
                      "fix the known_hosts entry (server presented {})",
                      host_port(t), t.known_hosts, server_key_desc(s)));
    case SSH_KNOWN_HOSTS_OTHER:
      throw TransportError(
          fmt::format("host key for {} does not match known_hosts {}: the file lists keys of another type "
                      "for '{}' (possible MITM or re-installed host); fix the known_hosts entry (server "
                      "presented {})",
                      host_port(t), t.known_hosts, known_hosts_name(t), server_key_desc(s)));
    case SSH_KNOWN_HOSTS_UNKNOWN:
      throw TransportError(fmt::format(
          "host {} is not listed in known_hosts {} (looked up as '{}'; server presented {}); "
          "verify the fingerprint out of band and add the entry, e.g. "
          "ssh-keyscan -p {} {} >> {}",
          host_port(t), t.known_hosts, known_hosts_name(t), server_key_desc(s), t.port, t.host, t.known_hosts));
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      throw TransportError(
          fmt::format("cannot verify host {}: known_hosts file {} not found or unreadable; create it with "
                      "the node's verified host key",
                      host_port(t), t.known_hosts));
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      throw TransportError(fmt::format("cannot verify host key of {} against known_hosts {}: {}", host_port(t),
                                       t.known_hosts, ssh_err(s)));
  }
}

// Tries the agent's keys; true on success, false when the node refused them all.
bool authenticate_agent(ssh_session s, const SshTarget& t, Clock::time_point until, long budget_ms) {
  std::uint32_t keys = 0;
  const int fd = open_agent(t, until, &keys);
  if (keys == 0) {
    ::close(fd);
    if (t.key_file.empty())
      throw TransportError(fmt::format("{}: the ssh-agent at SSH_AUTH_SOCK holds no key; ssh-add one", where_of(t)));
    return false;
  }
  ssh_set_agent_socket(s, fd);  // libssh owns it from here (closed by ssh_free)
  if (!arm_timeout(s, until)) throw timed_out(t, budget_ms, "before authenticating");
  switch (ssh_userauth_agent(s, nullptr)) {
    case SSH_AUTH_SUCCESS:
      return true;
    case SSH_AUTH_DENIED:
    case SSH_AUTH_PARTIAL:
      if (!t.key_file.empty()) return false;
      throw TransportError(
          fmt::format("{}: public key authentication as '{}' denied for the {} key(s) of the "
                      "ssh-agent; install the right public key in ~{}/.ssh/authorized_keys on the "
                      "node",
                      where_of(t), t.user, keys, t.user));
    case SSH_AUTH_AGAIN:
      throw timed_out(t, budget_ms, "while authenticating with the agent");
    default:
      throw TransportError(fmt::format("{}: authentication error with the agent: {}", where_of(t), ssh_err(s)));
  }
}

void authenticate(ssh_session s, const SshTarget& t, ssh_key key, Clock::time_point until, long budget_ms) {
  if (t.agent && authenticate_agent(s, t, until, budget_ms)) return;
  if (!arm_timeout(s, until)) throw timed_out(t, budget_ms, "before authenticating");
  switch (ssh_userauth_publickey(s, nullptr, key)) {
    case SSH_AUTH_SUCCESS:
      return;
    case SSH_AUTH_DENIED:
    case SSH_AUTH_PARTIAL:
      throw TransportError(fmt::format(
          "{}: public key authentication as '{}' denied for key {}{}; install {}.pub in "
          "~{}/.ssh/authorized_keys on the node (and check sshd PermitRootLogin/"
          "PubkeyAuthentication)",
          where_of(t), t.user, t.key_file, t.agent ? " (and for the agent's keys)" : "", t.key_file, t.user));
    case SSH_AUTH_AGAIN:
      throw timed_out(t, budget_ms, "while authenticating");
    default:
      throw TransportError(fmt::format("{}: authentication error: {}", where_of(t), ssh_err(s)));
  }
}

}  // namespace

void SessionDeleter::operator()(ssh_session s) const noexcept {
  if (s == nullptr) return;
  // Non-blocking so the goodbye packet can never stall on a dead peer.
  ssh_set_blocking(s, 0);
  if (!over_fd && ssh_is_connected(s) != 0) ssh_disconnect(s);
  ssh_free(s);  // also frees any channel libssh still tracks, and closes an fd it was given
}

std::string where_of(const SshTarget& t) {
  std::string out = fmt::format("ssh {}@{}", t.user, host_port(t));
  for (std::size_t i = 0; i < t.jump.size(); ++i)
    out += fmt::format("{}{}@{}", i == 0 ? " via " : ", ", t.jump[i].user, host_port(t.jump[i]));
  return out;
}

Channel::Channel(ssh_session s) : ch_(ssh_channel_new(s)) {
  std::memset(&cb_, 0, sizeof cb_);
  if (!ch_) return;
  cb_.userdata = &exit_;
  cb_.channel_exit_status_function = on_exit_status;
  cb_.channel_exit_signal_function = on_exit_signal;
  ssh_callbacks_init(&cb_);
  registered_ = ssh_set_channel_callbacks(ch_.get(), &cb_) == SSH_OK;
}

Channel::~Channel() {
  // The channel may outlive this object inside libssh (until the peer's
  // CLOSE arrives): never leave it pointing at our callbacks. Then ch_'s
  // deleter frees it (non-blocking session: sends CLOSE, never waits).
  if (ch_ && registered_) ssh_remove_channel_callbacks(ch_.get(), &cb_);
}

int signal_number(const std::string& name) {
  static constexpr std::array<std::pair<const char*, int>, 15> kSignals{{
      {"HUP", 1},
      {"INT", 2},
      {"QUIT", 3},
      {"ILL", 4},
      {"TRAP", 5},
      {"ABRT", 6},
      {"BUS", 7},
      {"FPE", 8},
      {"KILL", 9},
      {"USR1", 10},
      {"SEGV", 11},
      {"USR2", 12},
      {"PIPE", 13},
      {"ALRM", 14},
      {"TERM", 15},
  }};
  for (const auto& [n, v] : kSignals)
    if (name == n) return v;
  return -1;
}

long remaining_ms(Clock::time_point until) {
  return static_cast<long>(std::chrono::ceil<milliseconds>(until - Clock::now()).count());
}

void wait_session(ssh_session s, Clock::time_point until, long max_slice_ms) {
  const long ms = std::clamp(remaining_ms(until), 0L, max_slice_ms);
  EventPtr ev(ssh_event_new());
  if (ev && ssh_event_add_session(ev.get(), s) == SSH_OK) {
    ssh_event_dopoll(ev.get(), static_cast<int>(ms));
    ssh_event_remove_session(ev.get(), s);
    return;
  }
  // Fallback (out of memory): plain poll on the socket.
  pollfd p{};
  p.fd = ssh_get_fd(s);
  p.events = POLLIN;
  ::poll(&p, 1, static_cast<int>(ms));  // fd < 0 is ignored: plain sleep
}

std::string ssh_err(ssh_session s) {
  const char* e = ssh_get_error(s);
  return (e != nullptr && *e != '\0') ? std::string(e) : std::string("unknown libssh error");
}

std::string host_port(const SshTarget& t) {
  bool v6 = t.host.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", t.host, t.port) : fmt::format("{}:{}", t.host, t.port);
}

SessionPtr open_session(const SshTarget& t, Clock::time_point until, int fd) {
  const long budget_ms = std::max(0L, remaining_ms(until));
  FdCloser unowned{fd};  // until the session owns it
  check_target(t);
  KeyPtr key = load_key(t);
  SessionPtr s = new_session(t);
  if (fd >= 0) {
    if (ssh_options_set(s.get(), SSH_OPTIONS_FD, &fd) != SSH_OK)
      throw TransportError(
          fmt::format("{}: cannot hand the jump host's forward to libssh: {}", where_of(t), ssh_err(s.get())));
    s.get_deleter().over_fd = true;
    unowned.fd = -1;
  }
  connect_session(s.get(), t, until, budget_ms, fd >= 0);
  verify_host_key(s.get(), t);
  authenticate(s.get(), t, key.get(), until, budget_ms);
  ssh_set_blocking(s.get(), 0);
  return s;
}

}  // namespace haverify::ssh
