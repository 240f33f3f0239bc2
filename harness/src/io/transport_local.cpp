// LocalTransport: `/bin/sh -c command` on the harness host via Boost.Process
// (v1 API, Boost 1.74). stdout and stderr are drained asynchronously on a
// private io_context so large outputs cannot deadlock; the child runs in its
// own process group so a deadline can SIGKILL everything it started.
#include "haverify/io/transport.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#if __has_include(<linux/close_range.h>)
#include <linux/close_range.h>
#endif

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cstring>
#include <thread>

namespace haverify {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Runs in the forked child before exec (async-signal-safe calls only).
struct ChildSetup : bp::extend::handler {
  template <class Executor>
  void on_exec_setup(Executor&) const {
    ::setpgid(0, 0);  // own process group: the deadline kills the whole group
    // The harness blocks SIGINT/SIGTERM in every thread (cancel.cpp) and a
    // signal mask survives exec: unblock them, or the child (and whatever it
    // starts, e.g. a lab's daemons) would ignore a SIGTERM sent to it.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
#if defined(CLOSE_RANGE_CLOEXEC)
    // Do not leak the harness's descriptors (other execs' pipes, ssh sockets)
    // into the child: a leaked pipe write end would delay another exec's EOF.
    // CLOEXEC rather than close keeps Boost's exec-error pipe working.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
  }
};

// Continuous async reader: appends everything to `sink` until EOF/error.
class PipeReader {
 public:
  PipeReader(bp::async_pipe& pipe, std::string& sink, const std::function<void(std::string_view)>& tee)
      : pipe_(pipe), sink_(sink), tee_(tee) {}
  void start() {
    pipe_.async_read_some(asio::buffer(buf_), [this](const boost::system::error_code& ec, std::size_t n) {
      sink_.append(buf_.data(), n);
      if (tee_ && n > 0) tee_(std::string_view(buf_.data(), n));
      if (ec) {
        done_ = true;  // eof (all writers closed) or cancelled
        return;
      }
      start();
    });
  }
  bool done() const { return done_; }

 private:
  bp::async_pipe& pipe_;
  std::string& sink_;
  const std::function<void(std::string_view)>& tee_;
  std::array<char, 64 * 1024> buf_{};
  bool done_ = false;
};

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string(abbrev) : fmt::format("{}", sig);
}

}  // namespace

ExecResult LocalTransport::exec(const std::string& command, milliseconds deadline) {
  const auto t0 = Clock::now();
  const auto until = t0 + deadline;
  // After the shell exits, background processes it left behind may still hold
  // the pipes open; do not wait for their EOF longer than this.
  constexpr milliseconds kLinger{200};
  // After a deadline kill, collect what is left in the pipes for at most this.
  constexpr milliseconds kKillDrain{200};

  ExecResult r;
  auto finish = [&]() -> ExecResult {
    r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    return std::move(r);
  };

  asio::io_context ioc;
  bp::async_pipe out_pipe(ioc), err_pipe(ioc);
  std::error_code ec;
  // clang-format off
  bp::child child(bp::exe = "/bin/sh", bp::args = {"-c", command},
                  bp::std_in < bp::null, bp::std_out > out_pipe, bp::std_err > err_pipe,
                  ChildSetup{}, ec);
  // clang-format on
  if (ec || !child.valid()) {
    r.error = fmt::format("local: could not start /bin/sh -c for '{}': {}", command,
                          ec ? ec.message() : std::string("invalid child"));
    return finish();
  }
  const pid_t pid = child.id();

  PipeReader out_reader(out_pipe, r.out, hooks_.on_output), err_reader(err_pipe, r.err, hooks_.on_output);
  out_reader.start();
  err_reader.start();

  auto run_io = [&](milliseconds slice) {
    ioc.run_for(slice);
    if (ioc.stopped()) ioc.restart();
  };
  auto check_exit = [&](bool& exited, Clock::time_point& exited_at) {
    if (exited) return;
    std::error_code rec;
    if (!child.running(rec)) {
      exited = true;
      exited_at = Clock::now();
    }
  };

  bool exited = false;
  Clock::time_point exited_at{};
  milliseconds idle_slice{1};
  for (;;) {
    check_exit(exited, exited_at);
    const bool eof = out_reader.done() && err_reader.done();
    const auto now = Clock::now();
    if (exited && eof) break;
    if (exited && now - exited_at >= kLinger) break;  // background holders of the pipes
    if (now >= until) {
      r.timed_out = true;
      break;
    }
    if (!exited && hooks_.interrupted && hooks_.interrupted()) {
      r.error = fmt::format("local: '{}' interrupted after {} ms", command,
                            std::chrono::duration_cast<milliseconds>(now - t0).count());
      break;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(until - now) + milliseconds{1};
    if (!eof) {
      run_io(std::min(left, milliseconds{20}));
    } else {
      // Output complete, waiting for the exit: short, growing sleeps.
      std::this_thread::sleep_for(std::min(left, idle_slice));
      idle_slice = std::min(idle_slice * 2, milliseconds{20});
    }
  }

  const bool killed = r.timed_out || !r.error.empty();
  if (killed) {
    ::kill(-pid, SIGKILL);  // the whole process group (pgid == pid)
    ::kill(pid, SIGKILL);   // in case setpgid did not take
    const auto drain_until = Clock::now() + kKillDrain;
    while (!(out_reader.done() && err_reader.done()) && Clock::now() < drain_until) run_io(milliseconds{10});
  }

  // Stop reading: closes our pipe ends, completes pending reads as aborted.
  boost::system::error_code ignore;
  out_pipe.close(ignore);
  err_pipe.close(ignore);
  ioc.poll();

  // Reap. After SIGKILL this is immediate unless the child is stuck in the
  // kernel; never wait more than a second for that.
  const auto reap_until = Clock::now() + (killed ? milliseconds{1000} : milliseconds{0});
  for (;;) {
    check_exit(exited, exited_at);
    if (exited || Clock::now() >= reap_until) break;
    std::this_thread::sleep_for(milliseconds{2});
  }
  if (!exited) {
    // Only reachable after a deadline: the group got SIGKILL but the child has
    // not died yet (uninterruptible sleep). Do not block on it.
    child.detach();
    r.exit_code = -1;
    return finish();
  }

  if (killed) {
    r.exit_code = -1;
    return finish();
  }
  const int status = child.native_exit_code();
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_signal = signal_name(WTERMSIG(status));
    r.exit_code = 128 + WTERMSIG(status);
  }
  return finish();
}

}  // namespace haverify
