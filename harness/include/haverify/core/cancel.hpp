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
// thread starts) and starts a thread that turns them into request().
void install_signal_thread();

}  // namespace haverify::cancel
