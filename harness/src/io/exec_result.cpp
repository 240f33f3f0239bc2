#include <fmt/format.h>

#include "haverify/io/transport.hpp"

namespace haverify {

std::string describe(const ExecResult& r) {
  if (!r.error.empty()) return r.error;
  if (r.timed_out) return fmt::format("timed out after {} ms (killed)", r.elapsed.count());
  std::string err = r.err;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  std::string status = r.exit_signal.empty() ? fmt::format("exit {}", r.exit_code) : "killed by SIG" + r.exit_signal;
  return err.empty() ? status : status + ": " + err;
}

}  // namespace haverify
