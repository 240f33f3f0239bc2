#pragma once
// The client threads of a workload: start N, stop them all (waking any that
// are backing off), and an interruptible back-off sleep.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace haverify {

class ClientThreads {
 public:
  ClientThreads() = default;
  ClientThreads(const ClientThreads&) = delete;
  ClientThreads& operator=(const ClientThreads&) = delete;
  ~ClientThreads() { stop(); }

  // Runs body(0) .. body(n-1) on n threads; `who` names the workload in the
  // error if started twice.
  void start(int n, const std::function<void(int)>& body, const std::string& who) {
    if (started_) throw std::logic_error(who + ": start() called twice");
    started_ = true;
    stop_.store(false, std::memory_order_release);
    threads_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) threads_.emplace_back([body, i] { body(i); });
  }

  // Signals every thread and joins them. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  // Sleeps up to `d`, returning early when stop() is called.
  void backoff(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, d, [this] { return stopping(); });
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  std::mutex mu_;  // pairs with wake_
  std::condition_variable wake_;
};

}  // namespace haverify
