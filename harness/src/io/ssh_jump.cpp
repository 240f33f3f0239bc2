// SSH through jump hosts: a direct-tcpip channel per hop, a socketpair, and a
// pump thread that owns the hop's session (ssh_jump.hpp says why not
// libssh's own ProxyJump).
#include "ssh_jump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <cerrno>
#include <cstring>

namespace haverify::ssh {
namespace {

int on_fd_ready(socket_t, int, void*) {
  return 0;  // readiness only: the pump's loop does the work
}

// The jump host `hop` opens a TCP connection to `next` for us: a
// direct-tcpip channel on its (non-blocking) session.
ChannelPtr open_forward(ssh_session hop_session, const SshTarget& hop, const SshTarget& next, Clock::time_point until,
                        long budget_ms) {
  ChannelPtr ch(ssh_channel_new(hop_session));
  if (!ch) throw TransportError(fmt::format("{}: ssh_channel_new failed (out of memory?)", where_of(hop)));
  int rc = SSH_AGAIN;
  while ((rc = ssh_channel_open_forward(ch.get(), next.host.c_str(), next.port, "127.0.0.1", 0)) == SSH_AGAIN) {
    if (remaining_ms(until) <= 0)
      throw ConnectTimeout(fmt::format(
          "{}: the jump host did not open a connection to {} within {} ms; check that the node is up and that "
          "sshd answers on port {}",
          where_of(hop), host_port(next), budget_ms, next.port));
    wait_session(hop_session, until);
  }
  if (rc != SSH_OK)
    throw TransportError(fmt::format(
        "{}: the jump host could not connect to {}: {}; check that the node's sshd is up and that the jump host "
        "may forward to it (sshd AllowTcpForwarding, PermitOpen)",
        where_of(hop), host_port(next), ssh_err(hop_session)));
  return ch;
}

}  // namespace

Pump::Pump(SessionPtr session, ChannelPtr channel, int fd)
    : session_(std::move(session)), channel_(std::move(channel)), fd_(fd) {
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

Pump::~Pump() {
  stop_ = true;
  thread_.join();
  channel_.reset();  // the channel before its session
  session_.reset();
}

// channel -> fd and fd -> channel, each with at most one chunk in flight; it
// waits on the session and on the fd (only while it can take more from it).
// It ends when the session over the fd closed it (after passing the EOF on),
// when the far side ended and everything it sent was delivered, or on error.
void Pump::run() noexcept {
  EventPtr ev(ssh_event_new());
  ssh_session s = session_.get();
  ssh_channel ch = channel_.get();
  std::array<char, 32 * 1024> buf{};
  std::string to_fd, to_ch;  // bytes read, not yet delivered
  bool far_ended = false;    // the channel's far side sent EOF or failed
  while (ev && !stop_) {
    bool moved = false;
    if (to_fd.empty() && !far_ended) {
      const int n = ssh_channel_read_nonblocking(ch, buf.data(), buf.size(), 0);
      if (n > 0) {
        to_fd.assign(buf.data(), static_cast<std::size_t>(n));
        moved = true;
      } else if (n == SSH_EOF || n == SSH_ERROR || ssh_channel_is_eof(ch) != 0) {
        far_ended = true;
      }
    }
    if (!to_fd.empty()) {
      const ssize_t w = ::send(fd_, to_fd.data(), to_fd.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        to_fd.erase(0, static_cast<std::size_t>(w));
        moved = true;
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        break;  // the session over the socketpair is gone
      }
    }
    if (far_ended && to_fd.empty()) break;  // the far side ended: close the fd
    if (to_ch.empty()) {
      const ssize_t r = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (r > 0) {
        to_ch.assign(buf.data(), static_cast<std::size_t>(r));
        moved = true;
      } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        ssh_channel_send_eof(ch);
        break;  // the session over the socketpair closed it
      }
    }
    if (!to_ch.empty()) {
      const int w = ssh_channel_write(ch, to_ch.data(), static_cast<std::uint32_t>(to_ch.size()));
      if (w == SSH_ERROR) break;
      if (w > 0) {
        to_ch.erase(0, static_cast<std::size_t>(w));
        moved = true;
      }
    }
    if (ssh_is_connected(s) == 0 || (ssh_channel_is_closed(ch) != 0 && to_fd.empty())) break;
    // Wait on the session's socket and on the fd (only while it can take
    // more from it; else POLLIN would spin). The session joins the event
    // for this wait only: libssh's own calls (channel read, poll) move its
    // socket back to the session's default poll context, where a long-lived
    // event would no longer see it. dopoll also flushes queued output.
    if (ssh_event_add_session(ev.get(), s) != SSH_OK) break;
    const bool watch = to_ch.empty();
    if (watch) ssh_event_add_fd(ev.get(), fd_, POLLIN, on_fd_ready, nullptr);
    ssh_event_dopoll(ev.get(), moved ? 0 : (to_fd.empty() ? 50 : 5));
    if (watch) ssh_event_remove_fd(ev.get(), fd_);
    ssh_event_remove_session(ev.get(), s);
  }
  ::close(fd_);  // the session over the other end sees EOF at once
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    reset();
    session_ = std::move(other.session_);
    pumps_ = std::move(other.pumps_);
  }
  return *this;
}

void Connection::reset() noexcept {
  session_.reset();
  while (!pumps_.empty()) pumps_.pop_back();
}

Connection open_connection(const SshTarget& t, Clock::time_point until) {
  Connection c;
  if (t.jump.empty()) {
    c.session_ = open_session(t, until);
    return c;
  }
  const long budget_ms = std::max(0L, remaining_ms(until));
  const SshTarget* hop = &t.jump.front();
  SessionPtr s = open_session(*hop, until);
  for (std::size_t i = 1; i <= t.jump.size(); ++i) {
    const SshTarget& next = i < t.jump.size() ? t.jump[i] : t;
    ChannelPtr ch = open_forward(s.get(), *hop, next, until, budget_ms);
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
      throw TransportError(fmt::format("{}: socketpair failed: {}", where_of(t), std::strerror(errno)));
    c.pumps_.push_back(std::make_unique<Pump>(std::move(s), std::move(ch), sp[1]));
    SshTarget direct = next;
    direct.jump.clear();
    try {
      s = open_session(direct, until, sp[0]);
    } catch (const ConnectTimeout& e) {
      throw ConnectTimeout(fmt::format("{} (via {})", e.what(), where_of(*hop)));
    } catch (const TransportError& e) {
      throw TransportError(fmt::format("{} (via {})", e.what(), where_of(*hop)));
    }
    hop = &next;
  }
  c.session_ = std::move(s);
  return c;
}

}  // namespace haverify::ssh
