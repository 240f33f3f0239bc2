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

#include <fmt/format.h>
#include <vector>

#include "haverify/core/shell.hpp"
#include "ssh_jump.hpp"
#include "ssh_session.hpp"

namespace haverify {
namespace {

using ssh::Channel;
using ssh::Clock;
using ssh::ssh_err;
using ssh::wait_session;
using std::chrono::milliseconds;

enum class Outcome { ok, failed, timed_out };

// Sends the exec request. From here on the command may run: never retry.
Outcome request_exec(ssh_session s, Channel& ch, const std::string& command, Clock::time_point until,
                     const std::string& where, ExecResult& r) {
  int rc = SSH_AGAIN;
  while (rc == SSH_AGAIN) {
    rc = ssh_channel_request_exec(ch.get(), command.c_str());
    if (rc == SSH_AGAIN) {
      if (Clock::now() >= until) return Outcome::timed_out;
      wait_session(s, until);
    }
  }
  if (rc == SSH_OK) return Outcome::ok;
  r.error = fmt::format("{}: exec request failed: {}", where, ssh_err(s));
  return Outcome::failed;
}

// Writes `input` to the command's stdin, then EOF.
Outcome write_input(ssh_session s, Channel& ch, const std::string& input, Clock::time_point until,
                    const std::string& where, ExecResult& r) {
  std::size_t sent = 0;
  while (sent < input.size()) {
    const int n = ssh_channel_write(ch.get(), input.data() + sent, static_cast<uint32_t>(input.size() - sent));
    if (n == SSH_ERROR) {
      r.error = fmt::format("{}: writing the command's input failed: {}", where, ssh_err(s));
      return Outcome::failed;
    }
    sent += static_cast<std::size_t>(n);
    if (sent < input.size()) {
      if (Clock::now() >= until) return Outcome::timed_out;
      wait_session(s, until);
    }
  }
  int rc = SSH_AGAIN;
  while ((rc = ssh_channel_send_eof(ch.get())) == SSH_AGAIN) {
    if (Clock::now() >= until) return Outcome::timed_out;
    wait_session(s, until);
  }
  if (rc == SSH_OK) return Outcome::ok;
  r.error = fmt::format("{}: closing the command's input failed: {}", where, ssh_err(s));
  return Outcome::failed;
}

// Reads what stdout and stderr have now; sets `lost` when the connection or
// the channel broke. Returns whether anything was read.
bool drain(ssh_session s, Channel& ch, ExecResult& r, std::vector<char>& buf, bool& lost) {
  bool progress = false;
  for (int is_err = 0; is_err <= 1; ++is_err) {
    std::string& sink = is_err ? r.err : r.out;
    for (;;) {
      int n = ssh_channel_read_nonblocking(ch.get(), buf.data(), static_cast<uint32_t>(buf.size()), is_err);
      if (n > 0) {
        sink.append(buf.data(), static_cast<size_t>(n));
        progress = true;
        continue;
      }
      if (n == SSH_ERROR && (ssh_is_connected(s) == 0 || ssh_channel_is_closed(ch.get()) == 0)) lost = true;
      break;  // 0 (nothing now), SSH_EOF, or closed channel
    }
  }
  return progress;
}

// Drains stdout and stderr until EOF (or remote close) or the deadline.
Outcome read_output(ssh_session s, Channel& ch, Clock::time_point until, const std::string& where, ExecResult& r) {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    bool lost = false;
    bool progress = drain(s, ch, r, buf, lost);
    if (lost || ssh_is_connected(s) == 0) {
      r.error = fmt::format("{}: connection lost while the command was running ({}); its outcome is unknown", where,
                            ssh_err(s));
      return Outcome::failed;
    }
    if (ssh_channel_is_eof(ch.get()) != 0) return Outcome::ok;
    if (ssh_channel_is_closed(ch.get()) != 0) {
      drain(s, ch, r, buf, lost);
      return Outcome::ok;
    }
    if (Clock::now() >= until) return Outcome::timed_out;
    if (!progress) wait_session(s, until);
  }
}

// Output is complete; waits for exit-status / exit-signal (or close).
Outcome read_exit(ssh_session s, Channel& ch, Clock::time_point until, const std::string& where, ExecResult& r) {
  for (;;) {
    int st = ssh_channel_get_exit_status(ch.get());  // non-blocking: also pumps packets
    const ssh::ExitInfo& x = ch.exit();
    if (x.have_status || st >= 0) {
      r.exit_code = x.have_status ? x.status : st;
      return Outcome::ok;
    }
    if (!x.signal.empty()) {
      r.exit_signal = x.signal;
      int n = ssh::signal_number(x.signal);
      r.exit_code = n > 0 ? 128 + n : -1;
      return Outcome::ok;
    }
    if (ssh_is_connected(s) == 0) {
      r.error =
          fmt::format("{}: connection lost before the exit status arrived ({}); outcome unknown", where, ssh_err(s));
      return Outcome::failed;
    }
    if (ssh_channel_is_closed(ch.get()) != 0) return Outcome::ok;  // closed without status: -1
    if (Clock::now() >= until) return Outcome::timed_out;
    wait_session(s, until);
  }
}

// Best effort: ask sshd to kill the remote command's process group, then
// close the channel. OpenSSH >= 7.9 honours "signal" requests, but NOT for
// root logins (no post-auth privilege separation: "session signalling
// requires privilege separation"); then the command runs on until it ends
// or gets SIGPIPE writing to the closed channel. Bound remote work with
// `timeout` in the command itself where that matters.
void abandon(ssh_session s, Channel& ch) {
  ssh_channel_request_send_signal(ch.get(), "KILL");
  ssh_channel_close(ch.get());
  ssh_blocking_flush(s, 100);  // get them on the wire (small, bounded slack)
}

// Opens a session channel, waiting at most until `until`. Null and `why`
// set when it could not.
std::unique_ptr<Channel> try_open_channel(ssh_session s, Clock::time_point t0, Clock::time_point until,
                                          std::string& why) {
  auto ch = std::make_unique<Channel>(s);
  int rc = *ch ? SSH_AGAIN : SSH_ERROR;
  while (rc == SSH_AGAIN) {
    rc = ssh_channel_open_session(ch->get());
    if (rc == SSH_AGAIN) {
      if (Clock::now() >= until) break;
      wait_session(s, until);
    }
  }
  if (rc == SSH_OK) return ch;
  why = rc == SSH_AGAIN ? fmt::format("no answer to channel open within {} ms",
                                      std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count())
                        : ssh_err(s);
  return nullptr;
}

}  // namespace

bool uses_sudo(const SshTarget& target) {
  return target.become == "sudo" && target.user != "root";
}

std::string become_command(const SshTarget& target, const std::string& command) {
  if (!uses_sudo(target)) return command;
  // /bin/sh -c: the command is shell text (pipes, redirections, `cd`), which
  // sudo alone would not run. sudo passes stdin through (scripts piped to
  // `bash -s`, secrets written to stdin) and resets PATH to its secure_path,
  // which has the sbin directories that ip, nft and pg tools live in.
  return "sudo -n -- /bin/sh -c " + sh_quote(command);
}

struct SshTransport::Session {
  ssh::Connection c;  // the target's session, and the pumps of its jump hosts
};

SshTransport::SshTransport(SshTarget target) : target_(std::move(target)) {}

SshTransport::~SshTransport() {
  std::lock_guard lk(mu_);
  drop_locked();
}

std::string SshTransport::describe() const {
  return ssh::where_of(target_) + (uses_sudo(target_) ? " (sudo)" : "");
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
  auto session = std::make_unique<Session>();
  session->c = ssh::open_connection(target_, until);
  session_ = std::move(session);
  ++connects_;
}

std::unique_ptr<ssh::Channel> SshTransport::open_channel_locked(Clock::time_point t0, Clock::time_point until,
                                                                ExecResult& r) {
  for (bool retried = false;;) {
    bool fresh = false;
    if (!session_) {
      const auto connect_until = Clock::now() + target_.connect_timeout;
      try {
        connect_locked(std::min(until, connect_until));
      } catch (const ssh::ConnectTimeout& e) {
        // The exec deadline, not connect_timeout, was the binding limit.
        if (until <= connect_until) r.timed_out = true;
        r.error = e.what();
        return nullptr;
      } catch (const TransportError& e) {
        r.error = e.what();
        return nullptr;
      }
      fresh = true;
    }
    // On a reused session the channel open doubles as a liveness probe: a
    // peer that does not answer within connect_timeout is treated as dead.
    const auto open_until = fresh ? until : std::min(until, Clock::now() + target_.connect_timeout);
    std::string why;
    auto ch = try_open_channel(session_->c.get(), t0, open_until, why);
    if (ch) return ch;
    drop_locked();
    // Nothing was sent yet: retrying on a fresh session is safe. Retry once.
    if (!fresh && !retried && Clock::now() < until) {
      retried = true;
      continue;
    }
    r.error = fmt::format(
        "{}: could not open a channel: {}; the node may be down, overloaded, or sshd "
        "MaxSessions reached",
        describe(), why);
    return nullptr;
  }
}

ExecResult SshTransport::exec(const std::string& command, milliseconds deadline) {
  std::lock_guard lk(mu_);
  return exec_locked(command, nullptr, deadline);
}

ExecResult SshTransport::exec_with_input(const std::string& command, const std::string& input, milliseconds deadline) {
  std::lock_guard lk(mu_);
  return exec_locked(command, &input, deadline);
}

ExecResult SshTransport::exec_locked(const std::string& command, const std::string* input, milliseconds deadline) {
  const auto t0 = Clock::now();
  const auto until = t0 + deadline;
  ExecResult r;
  std::unique_ptr<Channel> ch = open_channel_locked(t0, until, r);  // always released before the session
  Outcome o = Outcome::failed;
  if (ch) {
    ssh_session s = session_->c.get();
    const std::string where = describe();
    o = request_exec(s, *ch, become_command(target_, command), until, where, r);
    if (o == Outcome::ok && input) o = write_input(s, *ch, *input, until, where, r);
    if (o == Outcome::ok) o = read_output(s, *ch, until, where, r);
    if (o == Outcome::ok) o = read_exit(s, *ch, until, where, r);
    if (o == Outcome::timed_out) {
      r.timed_out = true;
      r.exit_code = -1;
      abandon(s, *ch);
    }
  }
  if (o == Outcome::failed && Clock::now() >= until) r.timed_out = true;
  ch.reset();  // sends CLOSE if still open
  // After a failure or an overrun (a sick peer?) start fresh; otherwise the
  // session stays for reuse.
  if (o != Outcome::ok) drop_locked();
  r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  return r;
}

}  // namespace haverify
