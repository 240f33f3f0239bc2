#pragma once
// Unit-test helper: a synthetic History built op by op, with times in ms on
// the monotonic clock (wall clock = a fixed epoch + the same offset).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "haverify/core/history.hpp"

namespace haverify::testing {

constexpr Nanos kMs = 1'000'000;
constexpr Nanos kWall0 = 1'700'000'000'000 * kMs;

// One op at `mono` ns (wall clock: kWall0 + mono).
inline Op make_op(const std::string& process, OpType t, const std::string& f, const std::string& value, Nanos mono,
                  const std::string& node = "", const std::string& error = "") {
  Op op;
  op.process = process;
  op.type = t;
  op.f = f;
  op.value = value;
  op.node = node;
  op.error = error;
  op.mono_ns = mono;
  op.wall_ns = kWall0 + mono;
  return op;
}

struct HistoryBuilder {
  std::vector<Op> ops;

  void add(const std::string& process, OpType t, const std::string& f, const std::string& value, Nanos ms,
           const std::string& node = "", const std::string& error = "") {
    ops.push_back(make_op(process, t, f, value, ms * kMs, node, error));
    ops.back().index = static_cast<std::int64_t>(ops.size() - 1);
  }
  // A ledger write by `client` of id `id`, invoked at `t0` ms and completed at `t1` ms.
  void write(int client, std::int64_t id, Nanos t0, Nanos t1, OpType outcome = OpType::ok,
             const std::string& node = "vip:5432/app") {
    const std::string p = "client-" + std::to_string(client);
    add(p, OpType::invoke, "write", std::to_string(id), t0, node);
    add(p, outcome, "write", std::to_string(id), t1, node);
  }
  // Writes every 10 ms by client 1 from 0 to `until` ms, then the first fault: sent at `until`, returned 10 ms later.
  void steady_then_inject(Nanos until, const std::string& fault = "power_off node1") {
    for (Nanos t = 0; t < until; t += 10) write(1, t / 10 + 1, t, t + 2);
    add("nemesis", OpType::invoke, "inject", fault, until, "node1");
    add("nemesis", OpType::ok, "inject", fault, until + 10, "node1");
  }
  // A planned operation of a cluster step, from `t0` to `t1` ms.
  void cluster_op(const std::string& op, const std::string& node, Nanos t0, Nanos t1, OpType outcome = OpType::ok) {
    add("driver", OpType::invoke, op, node, t0, node);
    if (outcome == OpType::fail)
      add("driver", OpType::fail, op, node + "; " + std::to_string(t1 - t0) + " ms", t1, node, "it failed");
    else
      add("driver", outcome, op, node + "; " + std::to_string(t1 - t0) + " ms", t1, node);
  }
  void probe(const std::string& node, Nanos ms, bool writable, std::int64_t instance = 0) {
    add("probe", OpType::ok, "state",
        instance
            ? fmt::format(R"({{"in_recovery":{},"timeline":3,"lsn":"0/3000148","writable":{},"instance":{}}})",
                          !writable, writable, instance)
            : fmt::format(R"({{"in_recovery":{},"timeline":3,"lsn":"0/3000148","writable":{}}})", !writable, writable),
        ms, node);
  }
  // The server `client`'s new connection reached (its first write's RETURNING), at `ms`.
  void server(int client, const std::string& addr, std::int64_t instance, Nanos ms) {
    add("client-" + std::to_string(client), OpType::ok, "server",
        fmt::format(R"({{"addr":"{}","port":5432,"instance":{}}})", addr, instance), ms, "vip:5432/app");
  }
  void probe_fail(const std::string& node, Nanos ms) {
    add("probe", OpType::fail, "state", "", ms, node, "connect deadline 50ms passed");
  }
  // Samples every `step` ms in [from, to].
  void probes(const std::string& node, Nanos from, Nanos to, bool writable, Nanos step = 50) {
    for (Nanos t = from; t <= to; t += step) probe(node, t, writable);
  }
  void bank_read(int client, const std::string& total, Nanos t) {
    const std::string p = "bank-" + std::to_string(client);
    add(p, OpType::invoke, "read", "", t);
    add(p, OpType::ok, "read", total, t + 1);
  }
  void transfer(int client, const std::string& v, Nanos t, OpType outcome = OpType::ok) {
    const std::string p = "bank-" + std::to_string(client);
    add(p, OpType::invoke, "transfer", v, t);
    add(p, outcome, "transfer", v, t + 1);
  }
  void sort() {
    std::stable_sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.mono_ns < b.mono_ns; });
  }
};

}  // namespace haverify::testing
