#pragma once
// The runner's progress lines. A run that could not be carried out throws
// HarnessFailure (core/errors.hpp: verdict `error`, exit code 3).
#include <string>

#include "haverify/core/errors.hpp"

namespace haverify {

// "[hh:mm:ss.mmm] text" on stdout.
void run_log(const std::string& text);

}  // namespace haverify
