#pragma once
// The History: an append-only, thread-safe log of timestamped operations.
// Client operations follow the invoke -> ok | fail | info model: `info` means
// the outcome is unknown (e.g. the connection dropped while a COMMIT was in
// flight). Faults, steps and probe results go into the same History with
// process names such as "nemesis", "runner" or "probe".
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "haverify/clock.hpp"

namespace haverify {

enum class OpType { invoke, ok, fail, info };

const char* to_string(OpType t);

struct Op {
  std::int64_t index = -1;  // position in the history, assigned on append
  std::string process;      // "client-3", "nemesis", "runner", "probe"
  OpType type = OpType::invoke;
  std::string f;      // "write", "inject", "heal", "step", "role", ...
  std::string value;  // e.g. the id written, the fault description
  std::string node;   // node the op was directed at, if known
  Nanos mono_ns = 0;  // steady clock
  Nanos wall_ns = 0;  // system clock
  std::string error;  // error text for fail/info
};

class History {
 public:
  // Appends `op`, stamping mono_ns/wall_ns if they are zero; returns its index.
  std::int64_t append(Op op);

  // Convenience for the common case.
  std::int64_t record(std::string process, OpType type, std::string f, std::string value, std::string node = {},
                      std::string error = {});

  // A consistent copy of everything appended so far.
  std::vector<Op> snapshot() const;
  std::size_t size() const;

  // Called (under no lock) after each append; used to stream the history to disk.
  void set_listener(std::function<void(const Op&)> listener);

 private:
  mutable std::mutex mu_;
  std::vector<Op> ops_;
  std::function<void(const Op&)> listener_;
};

}  // namespace haverify
