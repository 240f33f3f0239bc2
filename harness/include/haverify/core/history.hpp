#pragma once
// The History: an append-only, thread-safe log of timestamped operations.
// Client operations follow the invoke -> ok | fail | info model: `info` means
// the outcome is unknown (e.g. the connection dropped while a COMMIT was in
// flight). Faults, steps and probe results go into the same History with
// process names such as "nemesis", "runner" or "probe".
//
// A long run does not keep its ops: the runner builds the History with
// keep_in_memory = false and attaches sinks (history.jsonl writer, events
// and throughput writers, the metrics and checker passes) that see every op
// once, in index order. See docs/architecture.md ("Streaming history").
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "haverify/core/clock.hpp"

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

// An op with its fields; mono_ns/wall_ns 0 = stamped by History::append.
Op make_op(std::string process, OpType type, std::string f, std::string value, std::string node = {},
           std::string error = {});

// Receives every op appended after it was added, in index order, under the
// History's lock: on_op must be quick, must not append to the same History,
// and should not throw (an exception propagates to the appending thread).
class HistorySink {
 public:
  virtual ~HistorySink() = default;
  virtual void on_op(const Op& op) = 0;
};

class History {
 public:
  // keep_in_memory = false: ops are handed to the sinks and then dropped
  // (snapshot() returns an empty vector); size() still counts them.
  explicit History(bool keep_in_memory = true) : keep_(keep_in_memory) {}

  // Appends `op`, stamping mono_ns/wall_ns if they are zero (under the lock,
  // so stamped ops reach the sinks in non-decreasing mono_ns); returns its index.
  std::int64_t append(Op op);

  // Convenience for the common case (stamped by append).
  std::int64_t record(std::string process, OpType type, std::string f, std::string value, std::string node = {},
                      std::string error = {});

  // A consistent copy of everything appended so far (empty when the History
  // does not keep its ops).
  std::vector<Op> snapshot() const;
  std::size_t size() const;

  // Called (under no lock) after each append; used to stream the history to disk.
  void set_listener(std::function<void(const Op&)> listener);

  // Adds a sink (not owned; it must outlive its removal or the History).
  void add_sink(HistorySink* sink);
  void remove_sink(HistorySink* sink);

 private:
  mutable std::mutex mu_;
  bool keep_ = true;
  std::int64_t count_ = 0;
  std::vector<Op> ops_;
  std::vector<HistorySink*> sinks_;
  std::function<void(const Op&)> listener_;
};

}  // namespace haverify
