#pragma once
// Private to io/: SSH through jump hosts (ProxyJump), done by haverify itself.
// libssh 0.10 would turn a ProxyJump into a ProxyCommand that runs ssh(1),
// which trusts other known_hosts files and may prompt; instead each hop's
// session opens a direct-tcpip channel to the next hop, and the next session
// runs over one end of a socketpair (SSH_OPTIONS_FD) while a pump thread
// copies bytes between the other end and the channel. Every hop's host key
// is checked against the target's own known_hosts, as a direct connect's.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ssh_session.hpp"

namespace haverify::ssh {

// Copies bytes between `fd` (its end of a socketpair) and `channel`, a
// direct-tcpip channel of `session`, on a thread of its own. It owns all
// three: from construction on, no other thread touches the session. It ends
// when either side closes or fails, or when destroyed (within 50 ms); then
// it closes `fd`, so the session running over the other end sees EOF.
class Pump {
 public:
  Pump(SessionPtr session, ChannelPtr channel, int fd);
  ~Pump();  // stops and joins the thread, then frees the channel and session
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

 private:
  void run() noexcept;

  SessionPtr session_;
  ChannelPtr channel_;
  int fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A connected, authenticated session to the target, and the pumps of the
// jump hosts it runs through (none for a direct connect). Destruction frees
// the target's session first, then stops the pumps innermost first.
class Connection {
 public:
  Connection() = default;
  Connection(Connection&&) = default;
  Connection& operator=(Connection&& other) noexcept;
  ~Connection() { reset(); }
  void reset() noexcept;

  ssh_session get() const { return session_.get(); }
  explicit operator bool() const { return static_cast<bool>(session_); }

  SessionPtr session_;
  std::vector<std::unique_ptr<Pump>> pumps_;  // pumps_[0] owns the first hop's session
};

// Opens the target through each of its `jump` hosts in turn, all before
// `until` (the target's connect_timeout covers the whole chain). Throws
// ConnectTimeout or TransportError naming the hop that failed.
Connection open_connection(const SshTarget& t, Clock::time_point until);

}  // namespace haverify::ssh
