#pragma once
// The live progress of a run (issue 16 item 5): the step (n/N and what),
// the time since the run began, acknowledged writes per second, each node's
// role as the probes last saw it, and the faults in place. On a terminal one
// line redrawn in place every `tty_every`; otherwise a plain line every
// `plain_every` (CI logs). A History sink: it only counts under its own lock;
// a thread of its own prints.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>

#include "haverify/core/history.hpp"

namespace haverify {

struct ProgressOptions {
  std::string label;      // "power-off-primary #2"
  std::size_t steps = 0;  // the scenario's step count
  bool tty = false;       // redraw one line in place
  std::chrono::milliseconds tty_every{500};
  std::chrono::milliseconds plain_every{10000};
};

class Progress final : public HistorySink {
 public:
  Progress(ProgressOptions o, std::ostream& out);
  ~Progress() override;  // stops the printer; on a terminal, clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void on_op(const Op& op) override;
  // The line as it would be printed at `now` (monotonic), with the rate of
  // acks since the previous call (the first call: since the start).
  std::string line(Nanos now);
  // How many lines the printer has written so far.
  std::size_t printed() const { return printed_.load(); }

 private:
  void loop();

  ProgressOptions o_;
  std::ostream& out_;
  const Nanos start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::size_t step_ = 0;
  std::string step_text_ = "setup";
  std::int64_t acked_ = 0, acked_at_last_ = 0;
  Nanos last_ = 0;
  std::map<std::string, std::string> roles_;
  std::multiset<std::string> faults_;
  std::atomic<std::size_t> printed_{0};
  std::thread printer_;
};

// True when `fd` (1: stdout) is a terminal; its width in columns (0: unknown).
bool is_terminal(int fd);
std::size_t terminal_width(int fd);

}  // namespace haverify
