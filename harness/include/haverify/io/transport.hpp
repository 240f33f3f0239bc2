#pragma once
// Transport: run a shell command on a node (over SSH) or on the harness host
// (locally), with a hard deadline. A non-zero exit is data, never an exception.
//
//  - SshTransport: libssh, host key verified against ONE known_hosts file
//    (never ~/.ssh, never /etc/ssh, never added automatically), public-key
//    auth with the ssh-agent's keys and/or ONE private key file (encrypted:
//    its passphrase from an environment variable), one kept session reused
//    across execs.
//    Never share one SshTransport between threads (exec is mutex-guarded, so
//    misuse serializes instead of corrupting the session).
//  - LocalTransport: Boost.Process, `/bin/sh -c command` in its own process
//    group; stdout and stderr drained asynchronously.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "haverify/core/errors.hpp"

namespace haverify {

struct ExecResult {
  int exit_code = -1;    // remote/local exit status; -1 if unknown
                         // (128+N when the command died from signal N;
                         //  -1 when timed_out)
  std::string out, err;  // full stdout/stderr
  std::chrono::milliseconds elapsed{0};
  bool timed_out = false;   // deadline passed; the command was abandoned/killed
  std::string error;        // transport-level failure (could not connect/open
                            // channel...), empty if the command ran
  std::string exit_signal;  // e.g. "KILL" when the command died from a signal
  bool ok() const { return error.empty() && !timed_out && exit_code == 0; }
};

// One line for people: the transport error, "timed out after N ms", or
// "exit N" with the trimmed stderr ("exit 3: <stderr>").
std::string describe(const ExecResult& r);

// connect/auth/host-key failures: an unreachable node or a host key that
// does not match is a usage/configuration error (exit 2, docs/cli.md).
class TransportError : public UsageError {
  using UsageError::UsageError;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // A non-zero exit is data, not an exception. Never blocks longer than
  // `deadline` (+ small slack).
  virtual ExecResult exec(const std::string& command, std::chrono::milliseconds deadline) = 0;
  virtual std::string describe() const = 0;  // e.g. "ssh root@198.18.0.11:22" or "local"
};

struct SshTarget {
  std::string host;
  int port = 22;
  std::string user = "root";
  std::string key_file;  // private key file; required unless `agent`
  // The environment variable that holds key_file's passphrase (an encrypted
  // key); empty: the key must be unencrypted. Never prompted for.
  std::string passphrase_env;
  // Authenticate with the keys of the ssh-agent at $SSH_AUTH_SOCK first (as
  // OpenSSH does), then with key_file if one is given.
  bool agent = false;
  std::string known_hosts;  // the ONLY known_hosts file consulted, required
  std::chrono::milliseconds connect_timeout{3000};
  // How commands get root when `user` is not root: "" (they run as `user`)
  // or "sudo" (every command runs as `sudo -n -- /bin/sh -c '<command>'`;
  // ignored for root). docs/inventory.md "Real clusters".
  std::string become;
  // Jump hosts (OpenSSH's ProxyJump), first to last: the session to each
  // next host, and last to this one, runs through a TCP forward of the one
  // before. Each hop's host key is checked against its own known_hosts (the
  // node's unless the inventory names another); connect_timeout covers the
  // whole chain. A hop's own `jump` and `become` are not used.
  std::vector<SshTarget> jump;
};

// The command line sent to the node for `command`: itself, or wrapped for
// `target.become` (sudo without a password prompt: -n fails at once instead
// of waiting for a password nobody types).
std::string become_command(const SshTarget& target, const std::string& command);
// True when commands on this target go through sudo: `become: sudo` and a
// user other than root.
bool uses_sudo(const SshTarget& target);

namespace ssh {
class Channel;  // io/ssh_session.hpp
}

class SshTransport final : public Transport {
 public:
  explicit SshTransport(SshTarget target);
  ~SshTransport() override;  // RAII: disconnect + free
  SshTransport(const SshTransport&) = delete;
  SshTransport& operator=(const SshTransport&) = delete;

  // Opens (and authenticates) the session now, so a later exec costs one
  // channel round trip (used to pre-open sessions before a simultaneous
  // fault). No-op when a session is already open. Bounded by connect_timeout.
  // Throws TransportError with a clear, actionable message.
  void connect();

  // Connects lazily; reuses the session; reconnects once, transparently, if
  // the kept session died before the command was sent (never re-sends a
  // command that may have run). Connect failures are reported in
  // ExecResult::error (no throw). After a timeout or a transport error the
  // session is dropped; the next exec reconnects.
  ExecResult exec(const std::string& command, std::chrono::milliseconds deadline) override;
  // As exec, with `input` written to the command's stdin, then EOF: how a
  // secret reaches a node without being on a command line (which `ps` shows).
  ExecResult exec_with_input(const std::string& command, const std::string& input, std::chrono::milliseconds deadline);

  std::string describe() const override;  // "ssh root@198.18.0.11:22", "ssh qa@198.18.0.11:22 (sudo)"

  // Drops the kept session (next exec reconnects).
  void disconnect();
  // True if a session is currently kept (it may still have died silently).
  bool connected() const;
  // Number of successful connects (session establishments) so far; a reused
  // session does not increment it, a reconnect does.
  std::uint64_t connect_count() const { return connects_.load(); }
  const SshTarget& target() const { return target_; }

 private:
  struct Session;  // owns the ssh_session (RAII), defined in transport_ssh.cpp
  using Clock = std::chrono::steady_clock;

  void connect_locked(Clock::time_point until);  // throws TransportError
  // Opens a channel on the kept session, connecting first if there is none;
  // retries once on a fresh session when a kept one turned out dead (nothing
  // was sent yet). Null, with r.error (and r.timed_out) set, when it could not.
  std::unique_ptr<ssh::Channel> open_channel_locked(Clock::time_point t0, Clock::time_point until, ExecResult& r);
  void drop_locked() noexcept;
  ExecResult exec_locked(const std::string& command, const std::string* input, std::chrono::milliseconds deadline);

  SshTarget target_;
  mutable std::mutex mu_;
  std::unique_ptr<Session> session_;
  std::atomic<std::uint64_t> connects_{0};
};

class LocalTransport final : public Transport {
 public:
  struct Hooks {
    // Called with each chunk of stdout or stderr as it arrives, on the
    // exec's thread (the output is still collected in ExecResult).
    std::function<void(std::string_view chunk)> on_output;
    // Polled at least every 20 ms while the command runs; when it returns
    // true the process group gets SIGKILL as on a deadline and
    // ExecResult::error says "interrupted".
    std::function<bool()> interrupted;
  };
  LocalTransport() = default;
  explicit LocalTransport(Hooks hooks) : hooks_(std::move(hooks)) {}
  // Runs `/bin/sh -c command` on the harness host, stdin = /dev/null, in its
  // own process group, with no signal blocked. On deadline the whole group
  // gets SIGKILL.
  ExecResult exec(const std::string& command, std::chrono::milliseconds deadline) override;
  std::string describe() const override { return "local"; }

 private:
  Hooks hooks_;
};

}  // namespace haverify
