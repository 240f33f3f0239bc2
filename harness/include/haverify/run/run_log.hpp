#pragma once
// The runner's progress lines and its harness error (a run that could not be
// carried out: verdict `error`, exit code 3).
#include <stdexcept>
#include <string>

namespace haverify {

class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "[hh:mm:ss.mmm] text" on stdout.
void run_log(const std::string& text);

}  // namespace haverify
