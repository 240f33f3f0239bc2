#include "faults/exec.hpp"

#include <cctype>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "haverify/core/shell.hpp"

namespace haverify::faults {

namespace {

// Field 22 of /proc/PID/stat (start time), robust to spaces in the comm.
std::string starttime_of(const std::string& pid_expr) {
  return fmt::format("$(sed 's/.*) //' /proc/{}/stat 2>/dev/null | cut -d' ' -f20)", pid_expr);
}

std::string tag(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

}  // namespace

std::string background_launch_command(const std::string& command, const std::string& pidfile) {
  const std::string inner =
      fmt::format("echo \"$$ {}\" > {}; exec sh -c {}", starttime_of("$$"), sh_quote(pidfile), sh_quote(command));
  return fmt::format(
      "rm -f {0}; setsid sh -c {1} </dev/null >/dev/null 2>&1 & i=0; "
      "while [ ! -s {0} ] && [ $i -lt 50 ]; do sleep 0.02; i=$((i+1)); done; [ -s {0} ]",
      sh_quote(pidfile), sh_quote(inner));
}

std::string background_alive_command(const std::string& pidfile) {
  return fmt::format("read p s < {0} && [ -n \"$s\" ] && [ \"{1}\" = \"$s\" ]", sh_quote(pidfile), starttime_of("$p"));
}

std::string background_kill_command(const std::string& pidfile) {
  return fmt::format(
      "if read p s < {0} 2>/dev/null; then "
      "if [ -n \"$s\" ] && [ \"{1}\" = \"$s\" ]; then kill -TERM -$p 2>/dev/null; i=0; "
      "while [ $i -lt 20 ] && kill -0 -$p 2>/dev/null; do sleep 0.1; i=$((i+1)); done; "
      "kill -KILL -$p 2>/dev/null; i=0; "
      "while [ $i -lt 50 ] && kill -0 -$p 2>/dev/null; do sleep 0.1; i=$((i+1)); done; fi; fi; rm -f {0}; true",
      sh_quote(pidfile), starttime_of("$p"));
}

Execs::Execs(TransportPool& pool, FaultLedger& ledger, History& history, std::string run_id,
             std::chrono::milliseconds deadline)
    : pool_(pool), ledger_(ledger), history_(history), run_id_(std::move(run_id)), deadline_(deadline) {}

Execs::~Execs() {
  stop_all();
}

void Execs::record(OpType type, std::string_view f, std::string value, std::string node, std::string error) {
  history_.record(std::string(op::proc::exec), type, std::string(f), std::move(value), std::move(node),
                  std::move(error));
}

void Execs::run(const std::string& node, const std::string& command, std::chrono::milliseconds timeout) {
  record(OpType::invoke, op::fn::run, command, node);
  ExecResult r = pool_.run("ssh", node, command, timeout);
  if (!r.ok()) {
    const std::string why = describe(r);
    record(OpType::fail, op::fn::run, command, node, why);
    throw FaultError(fmt::format("exec on {} failed: {}: {}", node, command, why));
  }
  record(OpType::ok, op::fn::run, command, node);
}

void Execs::start(const std::string& id, const std::string& node, const std::string& command) {
  if (bg_.count(id)) throw FaultError(fmt::format("exec {}: already running", id));
  Bg b;
  b.node = node;
  b.pidfile = fmt::format("/tmp/haverify-exec-{}-{}.pid", tag(run_id_), tag(id));
  b.entry.id = fmt::format("{}/exec/{}", run_id_, id);
  b.entry.run = run_id_;
  b.entry.kind = "exec";
  b.entry.node = node;
  b.entry.description = fmt::format("background exec {} on {}: {}", id, node, command);
  b.entry.where = "ssh";
  if (const NodeSpec* n = pool_.inventory().node(node)) b.entry.ssh = n->ssh;
  b.entry.heal_command = background_kill_command(b.pidfile);
  b.entry.injected_at = format_wall_ns(wall_now_ns());
  ledger_.add(b.entry);  // before it starts
  bg_.emplace(id, b);
  record(OpType::invoke, op::fn::start, command, node);
  ExecResult r = pool_.run("ssh", node, background_launch_command(command, b.pidfile), deadline_);
  if (r.ok()) {
    ExecResult alive = pool_.run("ssh", node, "sleep 0.2; " + background_alive_command(b.pidfile), deadline_);
    if (!alive.ok()) r = alive;
  }
  if (!r.ok()) {
    const std::string why = describe(r);
    record(OpType::fail, op::fn::start, command, node, why);
    throw FaultError(fmt::format("background exec {} on {} did not start or died at once: {}", id, node, why));
  }
  record(OpType::ok, op::fn::start, command, node);
}

std::vector<std::string> Execs::stop_all() {
  std::vector<std::string> errors;
  for (auto it = bg_.begin(); it != bg_.end();) {
    const Bg& b = it->second;
    record(OpType::invoke, op::fn::stop, it->first, b.node);
    ExecResult r = pool_.run("ssh", b.node, b.entry.heal_command, deadline_);
    if (!r.ok()) {
      const std::string why = fmt::format(
          "stopping background exec {} on {} failed: {} (still in the fault ledger {}; "
          "run `haverify heal`)",
          it->first, b.node, describe(r), ledger_.path());
      record(OpType::fail, op::fn::stop, it->first, b.node, why);
      errors.push_back(why);
    } else {
      record(OpType::ok, op::fn::stop, it->first, b.node);
      ledger_.remove(b.entry.id);
    }
    it = bg_.erase(it);
  }
  return errors;
}

}  // namespace haverify::faults
