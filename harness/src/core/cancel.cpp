#include "haverify/core/cancel.hpp"

#include <signal.h>

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
      request(sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
    }
  }).detach();
}

}  // namespace haverify::cancel
