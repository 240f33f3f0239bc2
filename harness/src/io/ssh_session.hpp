#pragma once
// Private to io/: libssh handles as RAII types, the deadline helpers shared by
// connect and exec, and the connect itself (a verified, authenticated session
// or a TransportError saying what to fix). See transport_ssh.cpp for the
// deadline strategy.
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <chrono>
#include <memory>
#include <string>

#include "haverify/io/transport.hpp"

namespace haverify::ssh {

using Clock = std::chrono::steady_clock;

struct SessionDeleter {
  // The session runs over one end of a socketpair (through a jump host):
  // ssh_free alone then closes that fd (ssh_disconnect would leave it open).
  bool over_fd = false;
  void operator()(ssh_session s) const noexcept;
};
struct ChannelDeleter {
  void operator()(ssh_channel c) const noexcept { ssh_channel_free(c); }
};
struct EventDeleter {
  void operator()(ssh_event e) const noexcept { ssh_event_free(e); }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
using EventPtr = std::unique_ptr<ssh_event_struct, EventDeleter>;

// Exit information delivered by libssh channel callbacks.
struct ExitInfo {
  bool have_status = false;
  int status = -1;
  std::string signal;  // "KILL", "TERM", ... (without SIG)
};

// A channel plus its callback registration. Destroyed strictly before the
// session it belongs to (ssh_disconnect/ssh_free free tracked channels).
class Channel {
 public:
  explicit Channel(ssh_session s);
  ~Channel();
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

// A connect step ran out of time (as opposed to being refused/denied).
class ConnectTimeout : public TransportError {
 public:
  using TransportError::TransportError;
};

long remaining_ms(Clock::time_point until);
// One round of libssh's own poll loop on the session, for at most a short
// slice (never past `until`): flushes pending output (libssh defers writes to
// the next POLLOUT) and processes whatever arrives. Returns early on activity.
void wait_session(ssh_session s, Clock::time_point until, long max_slice_ms = 50);
std::string ssh_err(ssh_session s);
std::string host_port(const SshTarget& t);
// "ssh user@host:port", and " via user@host:port, ..." when it has jump hosts.
std::string where_of(const SshTarget& t);
int signal_number(const std::string& name);  // "KILL" -> 9; -1 if unknown

// Connects (over `fd`, one end of a socketpair, when fd >= 0: a jump host's
// forward; the session then owns fd, even when this throws), verifies the
// host key against the target's known_hosts only, authenticates with its
// key, all before `until`; the session is returned in non-blocking mode.
// t.jump is not looked at (ssh_jump.hpp open_connection). Throws
// ConnectTimeout or TransportError (what failed, where, and what to do).
SessionPtr open_session(const SshTarget& t, Clock::time_point until, int fd = -1);

}  // namespace haverify::ssh
