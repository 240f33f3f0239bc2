#pragma once
// Commands a scenario runs on a node (`exec:` steps). A background command is
// started in its own session (setsid) with a per-run pid file on the node;
// it is written to the fault ledger before it starts, with the command that
// kills its process group, so that the end of the run, or `haverify heal`
// after a crash, stops it. History: {exec, invoke|ok|fail, start|run|stop,
// value = command or id, node}.
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify::faults {

// `sh -c command` in a new session, detached; the pid file gets "PID STARTTIME".
std::string background_launch_command(const std::string& command, const std::string& pidfile);
// Exit 0 when the process in the pid file is alive (same start time).
std::string background_alive_command(const std::string& pidfile);
// SIGTERM to its process group, up to 2 s, then SIGKILL and up to 5 s until
// the group is gone (reaped), so that "stopped" means gone; removes the pid
// file. Idempotent (nothing to do when the pid file is gone or the pid was reused).
std::string background_kill_command(const std::string& pidfile);

class Execs {
 public:
  Execs(TransportPool& pool, FaultLedger& ledger, History& history, std::string run_id,
        std::chrono::milliseconds deadline);
  ~Execs();  // stop_all()
  Execs(const Execs&) = delete;
  Execs& operator=(const Execs&) = delete;

  // Runs `command` on `node` and waits up to `timeout`; throws FaultError
  // unless it exits 0.
  void run(const std::string& node, const std::string& command, std::chrono::milliseconds timeout);
  // Starts `command` in the background on `node` (ledger first); throws
  // FaultError if it is not running 200 ms later.
  void start(const std::string& id, const std::string& node, const std::string& command);
  // Kills every background command; returns error texts.
  std::vector<std::string> stop_all();

 private:
  struct Bg {
    std::string node, pidfile;
    LedgerEntry entry;
  };
  // An `exec` op.
  void record(OpType type, std::string_view f, std::string value, std::string node, std::string error = {});
  TransportPool& pool_;
  FaultLedger& ledger_;
  History& history_;
  std::string run_id_;
  std::chrono::milliseconds deadline_;
  std::map<std::string, Bg> bg_;
};

}  // namespace haverify::faults
