// SshTransport: libssh client with verified host keys, key-only auth, one kept
// session and hard deadlines.
//
// Deadline strategy: connect and authentication run in libssh's blocking mode,
// with SSH_OPTIONS_TIMEOUT(_USEC) re-armed to the remaining budget before each
// step (ssh_connect covers TCP connect + banner + key exchange). Once
// authenticated the session is switched to non-blocking mode for good: some
// libssh calls use an infinite timeout in blocking mode (channel open, exit
// status, channel close/flush), so every step of exec is a non-blocking call
// retried while we poll(2) the socket in short slices until the deadline.
#include "haverify/io/transport.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <poll.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <vector>

namespace haverify {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct SessionDeleter {
  void operator()(ssh_session s) const noexcept {
    if (s == nullptr) return;
    // Non-blocking so the goodbye packet can never stall on a dead peer.
    ssh_set_blocking(s, 0);
    if (ssh_is_connected(s) != 0) ssh_disconnect(s);
    ssh_free(s);  // also frees any channel libssh still tracks
  }
};
struct ChannelDeleter {
  void operator()(ssh_channel c) const noexcept { ssh_channel_free(c); }
};
struct KeyDeleter {
  void operator()(ssh_key k) const noexcept { ssh_key_free(k); }
};
struct CharDeleter {  // strings allocated by libssh
  void operator()(char* p) const noexcept { ssh_string_free_char(p); }
};
struct HashDeleter {
  void operator()(unsigned char* p) const noexcept { ssh_clean_pubkey_hash(&p); }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;
using CharPtr = std::unique_ptr<char, CharDeleter>;
using HashPtr = std::unique_ptr<unsigned char, HashDeleter>;

// Exit information delivered by libssh channel callbacks.
struct ExitInfo {
  bool have_status = false;
  int status = -1;
  std::string signal;  // "KILL", "TERM", ... (without SIG)
};

void on_exit_status(ssh_session, ssh_channel, int exit_status, void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  info->have_status = true;
  info->status = exit_status;
}
void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*, void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  info->signal = signal != nullptr ? signal : "?";
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

// A channel plus its callback registration. Destroyed strictly before the
// session it belongs to (ssh_disconnect/ssh_free free tracked channels).
class Channel {
 public:
  explicit Channel(ssh_session s) : ch_(ssh_channel_new(s)) {
    std::memset(&cb_, 0, sizeof cb_);
    if (!ch_) return;
    cb_.userdata = &exit_;
    cb_.channel_exit_status_function = on_exit_status;
    cb_.channel_exit_signal_function = on_exit_signal;
    ssh_callbacks_init(&cb_);
    registered_ = ssh_set_channel_callbacks(ch_.get(), &cb_) == SSH_OK;
  }
  ~Channel() {
    // The channel may outlive this object inside libssh (until the peer's
    // CLOSE arrives): never leave it pointing at our callbacks. Then ch_'s
    // deleter frees it (non-blocking session: sends CLOSE, never waits).
    if (ch_ && registered_) ssh_remove_channel_callbacks(ch_.get(), &cb_);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  ssh_channel get() const { return ch_.get(); }
  explicit operator bool() const { return static_cast<bool>(ch_); }
  const ExitInfo& exit() const { return exit_; }

 private:
  ChannelPtr ch_;
  ssh_channel_callbacks_struct cb_;
  ExitInfo exit_;
  bool registered_ = false;
};

long remaining_ms(Clock::time_point until) {
  return static_cast<long>(std::chrono::ceil<milliseconds>(until - Clock::now()).count());
}

struct EventDeleter {
  void operator()(ssh_event e) const noexcept { ssh_event_free(e); }
};
using EventPtr = std::unique_ptr<ssh_event_struct, EventDeleter>;

// One round of libssh's own poll loop on the session, for at most a short
// slice (never past `until`): flushes pending output (libssh defers writes to
// the next POLLOUT) and processes whatever arrives. Returns early on activity.
void wait_session(ssh_session s, Clock::time_point until, long max_slice_ms = 50) {
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

// A connect step ran out of time (as opposed to being refused/denied).
class ConnectTimeout : public TransportError {
 public:
  using TransportError::TransportError;
};

std::string ssh_err(ssh_session s) {
  const char* e = ssh_get_error(s);
  return (e != nullptr && *e != '\0') ? std::string(e) : std::string("unknown libssh error");
}

std::string host_port(const SshTarget& t) {
  bool v6 = t.host.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", t.host, t.port) : fmt::format("{}:{}", t.host, t.port);
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

}  // namespace

struct SshTransport::Session {
  SessionPtr s;
};

SshTransport::SshTransport(SshTarget target) : target_(std::move(target)) {}

SshTransport::~SshTransport() {
  std::lock_guard lk(mu_);
  drop_locked();
}

std::string SshTransport::describe() const {
  return fmt::format("ssh {}@{}", target_.user, host_port(target_));
}

bool SshTransport::connected() const {
  std::lock_guard lk(mu_);
  return session_ != nullptr;
}

void SshTransport::disconnect() {
  std::lock_guard lk(mu_);
  drop_locked();
}

void SshTransport::drop_locked() noexcept {
  session_.reset();
}

void SshTransport::connect() {
  std::lock_guard lk(mu_);
  if (session_) return;
  connect_locked(Clock::now() + target_.connect_timeout);
}

void SshTransport::connect_locked(Clock::time_point until) {
  namespace fs = std::filesystem;
  const std::string where = describe();
  const auto& t = target_;
  const long budget_ms = std::max(0L, remaining_ms(until));

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
  if (t.key_file.empty())
    throw TransportError(fmt::format("{}: no private key file configured (set key_file in the inventory)", where));
  if (!fs::is_regular_file(t.key_file, ec))
    throw TransportError(
        fmt::format("{}: private key file {} does not exist or is not a regular file; fix key_file in "
                    "the inventory",
                    where, t.key_file));

  ssh_key kraw = nullptr;
  if (ssh_pki_import_privkey_file(t.key_file.c_str(), nullptr, nullptr, nullptr, &kraw) != SSH_OK || kraw == nullptr)
    throw TransportError(
        fmt::format("{}: could not load private key {} (unreadable, unsupported format, or "
                    "passphrase-protected; haverify needs an unencrypted key)",
                    where, t.key_file));
  KeyPtr key(kraw);

  SessionPtr s(ssh_new());
  if (!s) throw TransportError(fmt::format("{}: ssh_new failed (out of memory?)", where));

  auto set = [&](ssh_options_e opt, const void* value, const char* name) {
    if (ssh_options_set(s.get(), opt, value) != SSH_OK)
      throw TransportError(fmt::format("{}: cannot set ssh option {}: {}", where, name, ssh_err(s.get())));
  };
  const bool process_config = false;  // never read ~/.ssh/config or /etc/ssh/ssh_config
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

  auto timed_out = [&](const char* step) {
    return ConnectTimeout(
        fmt::format("{}: timed out after {} ms {}; check that the node is up and reachable and that sshd "
                    "is answering on port {}",
                    where, budget_ms, step, t.port));
  };

  if (!arm_timeout(s.get(), until)) throw timed_out("before connecting");
  if (ssh_connect(s.get()) != SSH_OK) {
    std::string e = ssh_err(s.get());
    if (remaining_ms(until) <= 0 || e.find("imeout") != std::string::npos)
      throw ConnectTimeout(
          fmt::format("{}: connect timed out after {} ms ({}); the node may be powered off, partitioned, "
                      "or sshd is not answering on port {}",
                      where, budget_ms, e, t.port));
    throw TransportError(
        fmt::format("{}: connect failed: {}; check that the node is up, sshd listens on port {} and no "
                    "firewall blocks it",
                    where, e, t.port));
  }

  // Host key: only the configured known_hosts file counts; never add keys.
  switch (ssh_session_is_known_server(s.get())) {
    case SSH_KNOWN_HOSTS_OK:
      break;
    case SSH_KNOWN_HOSTS_CHANGED:
      throw TransportError(
          fmt::format("host key for {} does not match known_hosts {} (possible MITM or re-installed host); "
                      "fix the known_hosts entry (server presented {})",
                      host_port(t), t.known_hosts, server_key_desc(s.get())));
    case SSH_KNOWN_HOSTS_OTHER:
      throw TransportError(
          fmt::format("host key for {} does not match known_hosts {}: the file lists keys of another type "
                      "for '{}' (possible MITM or re-installed host); fix the known_hosts entry (server "
                      "presented {})",
                      host_port(t), t.known_hosts, known_hosts_name(t), server_key_desc(s.get())));
    case SSH_KNOWN_HOSTS_UNKNOWN:
      throw TransportError(fmt::format(
          "host {} is not listed in known_hosts {} (looked up as '{}'; server presented {}); "
          "verify the fingerprint out of band and add the entry, e.g. "
          "ssh-keyscan -p {} {} >> {}",
          host_port(t), t.known_hosts, known_hosts_name(t), server_key_desc(s.get()), t.port, t.host, t.known_hosts));
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      throw TransportError(
          fmt::format("cannot verify host {}: known_hosts file {} not found or unreadable; create it with "
                      "the node's verified host key",
                      host_port(t), t.known_hosts));
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      throw TransportError(fmt::format("cannot verify host key of {} against known_hosts {}: {}", host_port(t),
                                       t.known_hosts, ssh_err(s.get())));
  }

  if (!arm_timeout(s.get(), until)) throw timed_out("before authenticating");
  switch (ssh_userauth_publickey(s.get(), nullptr, key.get())) {
    case SSH_AUTH_SUCCESS:
      break;
    case SSH_AUTH_DENIED:
    case SSH_AUTH_PARTIAL:
      throw TransportError(
          fmt::format("{}: public key authentication as '{}' denied for key {}; install {}.pub in "
                      "~{}/.ssh/authorized_keys on the node (and check sshd PermitRootLogin/"
                      "PubkeyAuthentication)",
                      where, t.user, t.key_file, t.key_file, t.user));
    case SSH_AUTH_AGAIN:
      throw timed_out("while authenticating");
    default:
      throw TransportError(fmt::format("{}: authentication error: {}", where, ssh_err(s.get())));
  }

  ssh_set_blocking(s.get(), 0);
  session_ = std::make_unique<Session>();
  session_->s = std::move(s);
  ++connects_;
}

ExecResult SshTransport::exec(const std::string& command, milliseconds deadline) {
  std::lock_guard lk(mu_);
  const auto t0 = Clock::now();
  const auto until = t0 + deadline;
  const std::string where = describe();
  ExecResult r;
  std::unique_ptr<Channel> ch;  // always released before the session is dropped
  auto finish = [&]() -> ExecResult {
    r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    return std::move(r);
  };
  auto fail = [&](std::string msg) -> ExecResult {
    r.error = std::move(msg);
    if (Clock::now() >= until) r.timed_out = true;
    ch.reset();
    drop_locked();
    return finish();
  };

  bool retried = false;
  for (;;) {
    bool fresh = false;
    if (!session_) {
      const auto connect_until = Clock::now() + target_.connect_timeout;
      try {
        connect_locked(std::min(until, connect_until));
      } catch (const ConnectTimeout& e) {
        // The exec deadline, not connect_timeout, was the binding limit.
        if (until <= connect_until) r.timed_out = true;
        return fail(e.what());
      } catch (const TransportError& e) {
        return fail(e.what());
      }
      fresh = true;
    }
    ssh_session s = session_->s.get();
    // On a reused session the channel open doubles as a liveness probe: a
    // peer that does not answer within connect_timeout is treated as dead.
    const auto open_until = fresh ? until : std::min(until, Clock::now() + target_.connect_timeout);
    ch = std::make_unique<Channel>(s);
    int rc = *ch ? SSH_AGAIN : SSH_ERROR;
    while (rc == SSH_AGAIN) {
      rc = ssh_channel_open_session(ch->get());
      if (rc == SSH_AGAIN) {
        if (Clock::now() >= open_until) break;
        wait_session(s, open_until);
      }
    }
    if (rc == SSH_OK) break;
    std::string why = rc == SSH_AGAIN ? fmt::format("no answer to channel open within {} ms",
                                                    std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count())
                                      : ssh_err(s);
    ch.reset();
    drop_locked();
    // Nothing was sent yet: retrying on a fresh session is safe. Retry once.
    if (!fresh && !retried && Clock::now() < until) {
      retried = true;
      continue;
    }
    return fail(
        fmt::format("{}: could not open a channel: {}; the node may be down, overloaded, or sshd "
                    "MaxSessions reached",
                    where, why));
  }
  ssh_session s = session_->s.get();

  // From here on the command may run: never retry.
  int rc = SSH_AGAIN;
  while (rc == SSH_AGAIN) {
    rc = ssh_channel_request_exec(ch->get(), command.c_str());
    if (rc == SSH_AGAIN) {
      if (Clock::now() >= until) break;
      wait_session(s, until);
    }
  }

  auto on_timeout = [&]() -> ExecResult {
    r.timed_out = true;
    r.exit_code = -1;
    // Best effort: ask sshd to kill the remote command's process group, then
    // close the channel. OpenSSH >= 7.9 honours "signal" requests, but NOT for
    // root logins (no post-auth privilege separation: "session signalling
    // requires privilege separation"); then the command runs on until it ends
    // or gets SIGPIPE writing to the closed channel. Bound remote work with
    // `timeout` in the command itself where that matters.
    ssh_channel_request_send_signal(ch->get(), "KILL");
    ssh_channel_close(ch->get());
    ssh_blocking_flush(s, 100);  // get them on the wire (small, bounded slack)
    ch.reset();
    drop_locked();  // a command that overran may mean a sick peer: start fresh
    return finish();
  };

  if (rc == SSH_AGAIN) return on_timeout();
  if (rc != SSH_OK) {
    std::string e = ssh_err(s);
    return fail(fmt::format("{}: exec request failed: {}", where, e));
  }

  // Drain stdout and stderr until EOF (or remote close) or deadline.
  std::vector<char> buf(64 * 1024);
  auto drain = [&](bool& lost) -> bool {  // returns true if any data was read
    bool progress = false;
    for (int is_err = 0; is_err <= 1; ++is_err) {
      std::string& sink = is_err ? r.err : r.out;
      for (;;) {
        int n = ssh_channel_read_nonblocking(ch->get(), buf.data(), static_cast<uint32_t>(buf.size()), is_err);
        if (n > 0) {
          sink.append(buf.data(), static_cast<size_t>(n));
          progress = true;
          continue;
        }
        if (n == SSH_ERROR && (ssh_is_connected(s) == 0 || ssh_channel_is_closed(ch->get()) == 0)) lost = true;
        break;  // 0 (nothing now), SSH_EOF, or closed channel
      }
    }
    return progress;
  };
  for (;;) {
    bool lost = false;
    bool progress = drain(lost);
    if (lost || ssh_is_connected(s) == 0) {
      std::string e = ssh_err(s);
      return fail(
          fmt::format("{}: connection lost while the command was running ({}); its outcome is unknown", where, e));
    }
    if (ssh_channel_is_eof(ch->get()) != 0) break;
    if (ssh_channel_is_closed(ch->get()) != 0) {
      drain(lost);
      break;
    }
    if (Clock::now() >= until) return on_timeout();
    if (!progress) wait_session(s, until);
  }

  // Output is complete; wait for exit-status / exit-signal (or close).
  for (;;) {
    int st = ssh_channel_get_exit_status(ch->get());  // non-blocking: also pumps packets
    const ExitInfo& x = ch->exit();
    if (x.have_status || st >= 0) {
      r.exit_code = x.have_status ? x.status : st;
      break;
    }
    if (!x.signal.empty()) {
      r.exit_signal = x.signal;
      int n = signal_number(x.signal);
      r.exit_code = n > 0 ? 128 + n : -1;
      break;
    }
    if (ssh_is_connected(s) == 0) {
      std::string e = ssh_err(s);
      return fail(fmt::format("{}: connection lost before the exit status arrived ({}); outcome unknown", where, e));
    }
    if (ssh_channel_is_closed(ch->get()) != 0) break;  // closed without status: -1
    if (Clock::now() >= until) return on_timeout();
    wait_session(s, until);
  }
  ch.reset();  // sends CLOSE if still open; session stays for reuse
  return finish();
}

}  // namespace haverify
