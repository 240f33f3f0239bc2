#include "haverify/core/cancel.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace haverify::cancel {

namespace {
std::mutex mu;
std::condition_variable cv;
std::atomic<bool> flag{false};
std::atomic<bool> cooperative{false};
std::string why;
}  // namespace

void request(const std::string& w) {
  {
    std::lock_guard lock(mu);
    if (!flag) why = w;
    flag = true;
  }
  cv.notify_all();
}

bool requested() {
  return flag.load();
}

std::string reason() {
  std::lock_guard lock(mu);
  return why;
}

bool sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu);
  return !cv.wait_for(lock, d, [] { return flag.load(); });
}

void cooperate() {
  cooperative = true;
}

namespace {

// Ends the process from the signal thread: no destructor or exit handler
// runs (they may wait on the very work being interrupted).
[[noreturn]] void exit_now(const char* why) {
  const std::string line = std::string("haverify: ") + why + "\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, line.data(), line.size());
  ::_exit(3);  // ExitStatus::harness: interrupted
}

}  // namespace

void install_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set]() mutable {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      const char* why = sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)";
      if (!cooperative) exit_now(why);
      if (flag) exit_now("second signal: exiting now without healing; run `haverify heal` to undo what is left");
      request(why);
    }
  }).detach();
}

}  // namespace haverify::cancel
