// LocalTransport: `/bin/sh -c command` on the harness host via Boost.Process
// (v1 API, Boost 1.74). stdout and stderr are drained asynchronously on a
// private io_context so large outputs cannot deadlock; the child runs in its
// own process group so a deadline can SIGKILL everything it started.
#include "haverify/io/transport.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
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
    // Dies with the harness: a fault command orphaned by a kill -9 of
    // haverify must not finish after `haverify heal` undid it (a power-off
    // landing after the heal's power-on would leave the node off).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
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

// One /bin/sh -c command: its pipes drained asynchronously (both, always:
// a pipe left unread hangs the child), its exit awaited, and on a deadline or
// an interruption its whole process group killed.
class LocalRun {
 public:
  LocalRun(const std::string& command, const LocalTransport::Hooks& hooks, ExecResult& r)
      : command_(command), hooks_(hooks), r_(r) {}

  // False (and r.error set) when the shell could not be started.
  bool start() {
    std::error_code ec;
    // clang-format off
    child_ = bp::child(bp::exe = "/bin/sh", bp::args = {"-c", command_},
                       bp::std_in < bp::null, bp::std_out > out_pipe_, bp::std_err > err_pipe_,
                       ChildSetup{}, ec);
    // clang-format on
    if (ec || !child_.valid()) {
      r_.error = fmt::format("local: could not start /bin/sh -c for '{}': {}", command_,
                             ec ? ec.message() : std::string("invalid child"));
      return false;
    }
    out_reader_.start();
    err_reader_.start();
    return true;
  }

  // Until the command exited and its output is complete (or it exited and
  // background processes it left hold the pipes past kLinger), the deadline,
  // or an interruption. True when the command must be killed.
  bool wait(Clock::time_point t0, Clock::time_point until) {
    milliseconds idle_slice{1};
    for (;;) {
      check_exit();
      const bool eof = out_reader_.done() && err_reader_.done();
      const auto now = Clock::now();
      if (exited_ && (eof || now - exited_at_ >= kLinger)) return false;
      if (now >= until) {
        r_.timed_out = true;
        return true;
      }
      if (!exited_ && hooks_.interrupted && hooks_.interrupted()) {
        r_.error = fmt::format("local: '{}' interrupted after {} ms", command_,
                               std::chrono::duration_cast<milliseconds>(now - t0).count());
        return true;
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
  }

  // SIGKILL to the whole process group, then what is left in the pipes.
  void kill() {
    const pid_t pid = child_.id();
    ::kill(-pid, SIGKILL);  // the whole process group (pgid == pid)
    ::kill(pid, SIGKILL);   // in case setpgid did not take
    const auto drain_until = Clock::now() + kKillDrain;
    while (!(out_reader_.done() && err_reader_.done()) && Clock::now() < drain_until) run_io(milliseconds{10});
  }

  // Stops reading (closes our pipe ends, completes pending reads as aborted)
  // and reaps the child: at once, or after a kill within a second. Sets the
  // exit code (-1 after a kill) and signal.
  void finish(bool killed) {
    boost::system::error_code ignore;  // closing a pipe that already failed changes nothing
    out_pipe_.close(ignore);
    err_pipe_.close(ignore);
    ioc_.poll();
    const auto reap_until = Clock::now() + (killed ? milliseconds{1000} : milliseconds{0});
    for (;;) {
      check_exit();
      if (exited_ || Clock::now() >= reap_until) break;
      std::this_thread::sleep_for(milliseconds{2});
    }
    if (!exited_) {
      // Only reachable after a deadline: the group got SIGKILL but the child has
      // not died yet (uninterruptible sleep). Do not block on it.
      child_.detach();
      r_.exit_code = -1;
      return;
    }
    if (killed) {
      r_.exit_code = -1;
      return;
    }
    const int status = child_.native_exit_code();
    if (WIFEXITED(status)) {
      r_.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      r_.exit_signal = signal_name(WTERMSIG(status));
      r_.exit_code = 128 + WTERMSIG(status);
    }
  }

 private:
  // After the shell exits, background processes it left behind may still hold
  // the pipes open; do not wait for their EOF longer than this.
  static constexpr milliseconds kLinger{200};
  // After a deadline kill, collect what is left in the pipes for at most this.
  static constexpr milliseconds kKillDrain{200};

  void run_io(milliseconds slice) {
    ioc_.run_for(slice);
    if (ioc_.stopped()) ioc_.restart();
  }
  void check_exit() {
    if (exited_) return;
    std::error_code rec;
    if (!child_.running(rec)) {
      exited_ = true;
      exited_at_ = Clock::now();
    }
  }

  const std::string& command_;
  const LocalTransport::Hooks& hooks_;
  ExecResult& r_;
  asio::io_context ioc_;
  bp::async_pipe out_pipe_{ioc_}, err_pipe_{ioc_};
  PipeReader out_reader_{out_pipe_, r_.out, hooks_.on_output}, err_reader_{err_pipe_, r_.err, hooks_.on_output};
  bp::child child_;
  bool exited_ = false;
  Clock::time_point exited_at_{};
};

}  // namespace

ExecResult LocalTransport::exec(const std::string& command, milliseconds deadline) {
  const auto t0 = Clock::now();
  ExecResult r;
  LocalRun run(command, hooks_, r);
  if (run.start()) {
    const bool killed = run.wait(t0, t0 + deadline);
    if (killed) run.kill();
    run.finish(killed);
  }
  r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  return r;
}

}  // namespace haverify
