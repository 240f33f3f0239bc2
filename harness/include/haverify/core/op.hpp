#pragma once
// The History's vocabulary: the `process` and `f` names every writer and
// reader of an Op agrees on, as named constants and predicates. Use these,
// never the string literals (history.jsonl and events.csv carry the same
// words; docs/metrics.md lists them).
#include <string_view>

#include "haverify/core/history.hpp"

namespace haverify::op {

// Op::process: who appended the op.
namespace proc {
inline constexpr std::string_view ledger_client_prefix = "client-";  // "client-N": ledger client N
inline constexpr std::string_view bank_client_prefix = "bank-";      // "bank-N": bank client N
inline constexpr std::string_view reader_prefix = "reader-";         // "reader-N": reads client N
inline constexpr std::string_view nemesis = "nemesis";               // fault injection and heal
inline constexpr std::string_view runner = "runner";                 // steps, setup, recover, converge
inline constexpr std::string_view probe = "probe";                   // the role prober
inline constexpr std::string_view driver = "driver";                 // the cluster manager's view, detections
inline constexpr std::string_view sampler = "sampler";               // /proc samples
inline constexpr std::string_view maintenance = "maintenance";       // VACUUM, CHECKPOINT, basebackup, ...
inline constexpr std::string_view exec = "exec";                     // exec steps and their background commands
inline constexpr std::string_view cluster = "cluster";               // planned operations (cluster: steps)
}  // namespace proc

// Op::f: what the op is about.
namespace fn {
inline constexpr std::string_view write = "write";        // ledger INSERT
inline constexpr std::string_view transfer = "transfer";  // bank transfer
inline constexpr std::string_view read = "read";          // bank snapshot read of the total; reads: a row read back
inline constexpr std::string_view connect = "connect";    // a client's failed connect
inline constexpr std::string_view server = "server";      // the server a client's connection reached
inline constexpr std::string_view dns = "dns";            // a client's DNS answer for a host name endpoint
inline constexpr std::string_view inject = "inject";
inline constexpr std::string_view verify = "verify";
inline constexpr std::string_view heal = "heal";
inline constexpr std::string_view injection_skew = "injection_skew";
inline constexpr std::string_view step = "step";
inline constexpr std::string_view setup = "setup";
inline constexpr std::string_view recover = "recover";
inline constexpr std::string_view rejoin = "rejoin";
inline constexpr std::string_view restore = "restore";
inline constexpr std::string_view unblock = "unblock";
inline constexpr std::string_view converge = "converge";
inline constexpr std::string_view power_on = "power-on";
inline constexpr std::string_view writes_resumed = "writes-resumed";
inline constexpr std::string_view role = "role";    // probe: a node's role
inline constexpr std::string_view state = "state";  // probe: a node's state
inline constexpr std::string_view vip = "vip";      // probe: a watchdog node holds the delegate IP (held|free)
inline constexpr std::string_view detect = "detect";
inline constexpr std::string_view original_primary = "original_primary";
inline constexpr std::string_view sample = "sample";  // sampler: a node that could not be sampled
inline constexpr std::string_view proc = "proc";      // sampler: one process's sample
inline constexpr std::string_view run = "run";
inline constexpr std::string_view start = "start";
inline constexpr std::string_view stop = "stop";
}  // namespace fn

inline bool is_ledger_client(const Op& o) {
  return std::string_view(o.process).starts_with(proc::ledger_client_prefix);
}
inline bool is_bank_client(const Op& o) {
  return std::string_view(o.process).starts_with(proc::bank_client_prefix);
}
inline bool is_reader(const Op& o) {
  return std::string_view(o.process).starts_with(proc::reader_prefix);
}
// An acknowledgeable write through the endpoint: a ledger INSERT.
inline bool is_ledger_write(const Op& o) {
  return is_ledger_client(o) && o.f == fn::write;
}
inline bool is_transfer(const Op& o) {
  return is_bank_client(o) && o.f == fn::transfer;
}
inline bool is_from(const Op& o, std::string_view process) {
  return o.process == process;
}
inline bool is(const Op& o, std::string_view process, std::string_view f) {
  return o.process == process && o.f == f;
}
// The scenario acting on the cluster: a fault injected, an exec step, a
// planned operation (its detections aside). Repairs (run/watches.hpp) and
// restarts (memory_growth) ask whether the scenario explains what followed.
inline bool is_scenario_action(const Op& o) {
  return is(o, proc::nemesis, fn::inject) || is_from(o, proc::exec) || is_from(o, proc::cluster) ||
         (is_from(o, proc::driver) && o.f != fn::detect);
}

}  // namespace haverify::op
