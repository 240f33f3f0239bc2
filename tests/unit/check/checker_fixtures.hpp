#pragma once
// What the checker unit tests share: final states, a ledger history and
// lookups in a verdict.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

#include <fmt/format.h>

#include "../history_builder.hpp"
#include "haverify/check/checkers.hpp"
#include "haverify/core/history.hpp"

namespace haverify::testing {

using Hist = HistoryBuilder;

inline NodeFinalState node_state(const std::string& name, bool primary, std::set<std::int64_t> ids = {}) {
  NodeFinalState n;
  n.node = name;
  n.reachable = true;
  n.in_recovery = !primary;
  n.timeline = 3;
  n.streaming_from_primary = !primary;
  n.ledger_ids = std::move(ids);
  n.table_checksums = {{"haverify_ledger", "aaaa"}, {"haverify_bank", "bbbb"}};
  return n;
}

inline bool has_reason(const CheckerVerdict& v, const std::string& needle) {
  return std::any_of(v.reasons.begin(), v.reasons.end(),
                     [&](const std::string& r) { return r.find(needle) != std::string::npos; });
}

inline double fig(const CheckerVerdict& v, const std::string& k) {
  auto it = v.figures.find(k);
  if (it == v.figures.end()) FAIL("figure " << k << " missing");
  return it->second;
}

inline std::string dump(const CheckerVerdict& v) {
  std::string s = format_verdict(v);
  for (const auto& [k, x] : v.figures) s += fmt::format("\n  {} = {}", k, x);
  return s;
}

// Writes 1..5 ok, 6 info, 7 fail, 8 invoked and never completed.
inline Hist ledger_history() {
  Hist h;
  for (std::int64_t id = 1; id <= 5; ++id) h.write(1, id, id * 10, id * 10 + 2);
  h.write(2, 6, 100, 200, OpType::info);
  h.write(2, 7, 210, 211, OpType::fail);
  h.add("client-3", OpType::invoke, "write", "8", 220);
  h.sort();
  return h;
}

inline FinalState two_nodes(std::set<std::int64_t> primary_ids, std::set<std::int64_t> standby_ids) {
  FinalState f;
  f.primary = "n1";
  f.nodes = {node_state("n1", true, std::move(primary_ids)), node_state("n2", false, std::move(standby_ids))};
  return f;
}

}  // namespace haverify::testing
