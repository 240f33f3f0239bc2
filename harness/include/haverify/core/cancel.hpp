#pragma once
// Process-wide cancellation (SIGINT/SIGTERM). Waits in the runner sleep on
// this token so Ctrl-C interrupts them at once and the runner heals.
#include <chrono>
#include <string>

namespace haverify::cancel {

void request(const std::string& why);
bool requested();
std::string reason();
// Sleeps up to `d`; returns false early if cancellation was requested.
bool sleep_for(std::chrono::milliseconds d);
// Blocks SIGINT/SIGTERM in the calling thread (call first in main, before any
// thread starts) and starts a thread that handles them:
// - in a command that heals on cancellation (cooperate() was called: run,
//   compare), the first signal is a request() (the runner heals, then exits
//   3) and a second one ends the process at once (the fault ledger keeps
//   what `haverify heal` must undo);
// - in every other command (validate, plan, report, inventory, cluster, heal)
//   a signal ends the process at once with exit 3: nothing of theirs needs
//   undoing, and none of them may ignore Ctrl-C.
void install_signal_thread();
// Called by a command that watches requested() and heals what it injected.
void cooperate();

}  // namespace haverify::cancel
