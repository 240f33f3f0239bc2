#pragma once
// The runner's progress lines. A run that could not be carried out throws
// HarnessFailure (core/errors.hpp: verdict `error`, exit code 3).
#include <mutex>
#include <string>

#include "haverify/core/errors.hpp"

namespace haverify {

// "[hh:mm:ss.mmm] text" on stdout. While a live progress line is drawn on the
// terminal (run/progress.hpp), the line is cleared first (it is redrawn on
// its next tick).
void run_log(const std::string& text);
// "[hh:mm:ss.mmm] " now.
std::string log_stamp();

// One writer at a time on the console (run_log and the progress line).
std::mutex& console_mutex();
// Whether a live progress line occupies the terminal's last line.
void set_progress_line(bool drawn);

}  // namespace haverify
