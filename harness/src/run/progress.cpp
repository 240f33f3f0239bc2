#include "haverify/run/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "haverify/core/clock.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/run_log.hpp"

namespace haverify {

bool is_terminal(int fd) {
  return ::isatty(fd) == 1;
}

std::size_t terminal_width(int fd) {
  winsize ws{};
  return ::ioctl(fd, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

Progress::Progress(ProgressOptions o, std::ostream& out) : o_(std::move(o)), out_(out), start_(mono_now_ns()) {
  last_ = start_;
  if (o_.tty) set_progress_line(true);
  printer_ = std::thread([this] { loop(); });
}

Progress::~Progress() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  printer_.join();
  if (o_.tty) {
    std::lock_guard<std::mutex> console(console_mutex());
    out_ << "\r\x1b[K" << std::flush;
    set_progress_line(false);
  }
}

void Progress::on_op(const Op& op) {
  using namespace op;
  std::lock_guard<std::mutex> lock(mu_);
  if (op.type == OpType::ok && (is_ledger_write(op) || is_transfer(op) || (is_reader(op) && op.f == fn::write))) {
    ++acked_;
  } else if (is(op, proc::runner, fn::step) && op.type == OpType::invoke) {
    ++step_;
    step_text_ = op.value;
  } else if (is(op, proc::probe, fn::role)) {
    roles_[op.node] = op.type == OpType::ok ? op.value : "no answer";
  } else if (is(op, proc::nemesis, fn::inject) && op.type == OpType::ok) {
    faults_.insert(op.value);
  } else if (is(op, proc::nemesis, fn::heal) && op.type == OpType::ok) {
    if (const auto it = faults_.find(op.value); it != faults_.end()) faults_.erase(it);
  }
}

std::string Progress::line(Nanos now) {
  std::lock_guard<std::mutex> lock(mu_);
  const double dt = ns_to_s(now - last_);
  const auto rate = dt > 0 ? static_cast<std::int64_t>(static_cast<double>(acked_ - acked_at_last_) / dt + 0.5) : 0;
  acked_at_last_ = acked_;
  last_ = now;
  std::string roles;
  for (const auto& [node, role] : roles_) roles += fmt::format("{}{} {}", roles.empty() ? "" : ", ", node, role);
  std::string faults;
  for (const auto& f : faults_) faults += (faults.empty() ? "" : ", ") + f;
  return fmt::format("{} {:.1f} s | step {}/{} {} | {} acked/s ({} in all) | {} | faults: {}", o_.label,
                     ns_to_s(now - start_), step_, o_.steps, step_text_, rate, acked_,
                     roles.empty() ? "roles ?" : roles, faults.empty() ? "none" : faults);
}

void Progress::loop() {
  const auto every = o_.tty ? o_.tty_every : o_.plain_every;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, every, [this] { return stop_; })) {
    lock.unlock();
    std::string text = line(mono_now_ns());
    {
      std::lock_guard<std::mutex> console(console_mutex());
      if (o_.tty) {
        // One screen line, or the redraw in place breaks: cut to the width.
        if (const std::size_t w = terminal_width(1); w > 1 && text.size() >= w) text.resize(w - 1);
        out_ << "\r\x1b[K" << text << std::flush;
      } else {
        out_ << log_stamp() << "progress: " << text << std::endl;
      }
    }
    ++printed_;
    lock.lock();
  }
}

}  // namespace haverify
