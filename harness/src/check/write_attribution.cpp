#include "write_attribution.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "haverify/check/single_writer.hpp"
#include "haverify/core/op.hpp"

namespace haverify::detail {

void AckBuckets::add(Nanos t) {
  if (counts_.empty()) t0_ = t - t % kBucket;
  if (t < t0_) {  // an ack stamped before the first one: grow to the front
    const auto more = static_cast<std::size_t>((t0_ - t + kBucket - 1) / kBucket);
    counts_.insert(counts_.begin(), more, 0);
    t0_ -= static_cast<Nanos>(more) * kBucket;
  }
  const auto i = static_cast<std::size_t>((t - t0_) / kBucket);
  if (i >= counts_.size()) counts_.resize(i + 1, 0);
  ++counts_[i];
}

std::uint64_t AckBuckets::in(Nanos from, Nanos to) const {
  std::uint64_t n = 0;
  if (counts_.empty() || to < t0_) return 0;
  const auto a = static_cast<std::size_t>(std::max<Nanos>(0, (from - t0_) / kBucket));
  const auto b = static_cast<std::size_t>((to - t0_) / kBucket);
  for (std::size_t i = a; i <= b && i < counts_.size(); ++i) n += counts_[i];
  return n;
}

namespace {

bool is_write(const Op& op) {
  return (op::is_ledger_client(op) && op.f == op::fn::write) || op::is_transfer(op);
}

// A `server` op as the connection's server.
ServerKey server_key(const Op& op) {
  ServerKey k;
  if (op.type != OpType::ok) {
    k.why = op.error.empty() ? "the client could not tell" : op.error;
    return k;
  }
  const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("instance") || !j["instance"].is_number_integer()) {
    k.why = fmt::format("malformed server op '{}'", op.value);
    return k;
  }
  k.instance = j["instance"].get<std::int64_t>();
  if (j.contains("addr") && j["addr"].is_string()) k.addr = j["addr"].get<std::string>();
  if (j.contains("port") && j["port"].is_number_integer()) k.port = j["port"].get<int>();
  return k;
}

std::string describe_server(const ServerKey& k) {
  if (!k.why.empty()) return k.why;
  if (k.addr.empty()) return fmt::format("instance {} over a Unix socket", k.instance);
  return fmt::format("{}:{}", k.addr, k.port);
}

// Where two windows both surely took writes: [first_ok, last_invoke] of each.
std::optional<TimeWindow> common_span(const WriteWindow& a, const WriteWindow& b) {
  const Nanos from = std::max(a.first_ok, b.first_ok);
  const Nanos to = std::min(a.last_invoke, b.last_invoke);
  if (to <= from) return std::nullopt;
  return TimeWindow{from, to};
}

}  // namespace

void WriteAttribution::observe(const Op& op) {
  if (!op::is_ledger_client(op) && !op::is_bank_client(op)) return;
  if (op.f == op::fn::server) {
    current_[op.process] = server_key(op);
    return;
  }
  if (!is_write(op)) return;
  if (op.type == OpType::invoke) {
    invoked_[op.process] = op.mono_ns;
    return;
  }
  if (op.type != OpType::ok) return;
  ServerKey key;
  if (auto it = current_.find(op.process); it != current_.end()) {
    key = it->second;
  } else {
    key.why = "no server op before it (a client of an older haverify?)";
  }
  const auto inv = invoked_.find(op.process);
  const Nanos invoked = inv != invoked_.end() ? inv->second : op.mono_ns;
  Track& t = tracks_[key];
  t.buckets.add(op.mono_ns);
  if (t.windows.empty() || op.mono_ns - t.windows.back().last_ok > gap_) t.windows.push_back({op.mono_ns, 0, 0, 0});
  WriteWindow& w = t.windows.back();
  w.last_ok = std::max(w.last_ok, op.mono_ns);
  w.last_invoke = std::max(w.last_invoke, invoked);
  ++w.acks;
}

std::string WriteAttribution::node_of(const ServerKey& k) const {
  if (!k.why.empty()) return {};
  if (auto it = node_of_instance_.find(k.instance); it != node_of_instance_.end()) return it->second;
  if (auto it = node_of_address_.find(k.addr); it != node_of_address_.end()) return it->second;
  return {};
}

std::map<std::string, WriteAttribution::NodeWrites> WriteAttribution::by_node(
    std::map<std::string, std::uint64_t>& unattributed) const {
  std::map<std::string, NodeWrites> out;
  for (const auto& [key, track] : tracks_) {
    std::uint64_t acks = 0;
    for (const auto& w : track.windows) acks += w.acks;
    const std::string node = node_of(key);
    if (node.empty()) {
      unattributed[key.why.empty() ? fmt::format("{}: no node has this address or instance", describe_server(key))
                                   : key.why] += acks;
      continue;
    }
    NodeWrites& n = out[node];
    n.windows.insert(n.windows.end(), track.windows.begin(), track.windows.end());
    n.buckets.push_back(&track.buckets);
    n.acks += acks;
    if (const auto s = describe_server(key); std::find(n.servers.begin(), n.servers.end(), s) == n.servers.end())
      n.servers.push_back(s);
  }
  for (auto& [node, n] : out)
    std::sort(n.windows.begin(), n.windows.end(),
              [](const WriteWindow& a, const WriteWindow& b) { return a.first_ok < b.first_ok; });
  return out;
}

namespace {

constexpr std::size_t kListWindows = 10;

struct WriteOverlap {
  TimeWindow w;
  std::string a, b;
  std::uint64_t acks_a = 0, acks_b = 0;
};

std::uint64_t acks_in(const std::vector<const AckBuckets*>& buckets, const TimeWindow& w) {
  std::uint64_t n = 0;
  for (const auto* b : buckets) n += b->in(w.from, w.to);
  return n;
}

template <typename NodeMap>
std::vector<WriteOverlap> write_overlaps(const NodeMap& nodes) {
  std::vector<WriteOverlap> out;
  for (auto a = nodes.begin(); a != nodes.end(); ++a)
    for (auto b = std::next(a); b != nodes.end(); ++b)
      for (const auto& wa : a->second.windows)
        for (const auto& wb : b->second.windows)
          if (const auto w = common_span(wa, wb))
            out.push_back({*w, a->first, b->first, acks_in(a->second.buckets, *w), acks_in(b->second.buckets, *w)});
  std::sort(out.begin(), out.end(), [](const WriteOverlap& x, const WriteOverlap& y) { return x.w.from < y.w.from; });
  return out;
}

// Why no two nodes overlap: where the writes moved from one node to another
// ("node1 -> node2: last ack on node1 t=12.301 s, first on node2 t=17.812 s,
// 5.511 s apart").
template <typename NodeMap>
std::vector<std::string> handovers(const NodeMap& nodes, const TimeRef& tr) {
  std::vector<std::pair<const WriteWindow*, const std::string*>> all;
  for (const auto& [node, n] : nodes)
    for (const auto& w : n.windows) all.emplace_back(&w, &node);
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first->first_ok < y.first->first_ok; });
  std::vector<std::string> out;
  for (std::size_t i = 1; i < all.size(); ++i) {
    if (*all[i].second == *all[i - 1].second) continue;
    const Nanos last = all[i - 1].first->last_ok, first = all[i].first->first_ok;
    out.push_back(fmt::format("{} -> {}: last ack on {} t={:.3f} s, first on {} t={:.3f} s, {:.3f} s apart",
                              *all[i - 1].second, *all[i].second, *all[i - 1].second, tr.rel_s(last), *all[i].second,
                              tr.rel_s(first), ns_to_s(first - last)));
  }
  return out;
}

}  // namespace

bool WriteAttribution::finish(CheckerVerdict& v, const TimeRef& tr) const {
  std::map<std::string, std::uint64_t> unattributed;
  const auto nodes = by_node(unattributed);
  std::uint64_t attributed = 0, lost = 0;
  std::vector<std::string> per_node;
  for (const auto& [node, n] : nodes) {
    attributed += n.acks;
    per_node.push_back(fmt::format("{} {} ({})", node, n.acks, fmt::join(n.servers, ", ")));
  }
  for (const auto& [why, n] : unattributed) lost += n;
  const auto overlaps = write_overlaps(nodes);
  Nanos overlap_ns = 0;
  for (const auto& o : overlaps) overlap_ns += o.w.to - o.w.from;
  v.figures["attributed_writes"] = static_cast<double>(attributed);
  v.figures["unattributed_writes"] = static_cast<double>(lost);
  v.figures["write_nodes"] = count(nodes.size());
  v.figures["write_overlap_windows"] = count(overlaps.size());
  v.figures["write_overlap_s"] = ns_to_s(overlap_ns);
  if (attributed + lost == 0) return false;
  std::string summary = fmt::format("acknowledged writes by node: {}", fmt::join(per_node, ", "));
  for (const auto& [why, n] : unattributed) summary += fmt::format("; {} not attributed: {}", n, why);
  for (std::size_t k = 0; k < overlaps.size() && k < kListWindows; ++k) {
    const auto& o = overlaps[k];
    v.reasons.push_back(fmt::format(
        "split brain in the writes: acknowledged writes on two nodes in overlapping time, {} ({} acks) and {} ({} "
        "acks, counted to 0.1 s) for {:.3f} s, {} .. {} (t={:.3f}..{:.3f} s)",
        o.a, o.acks_a, o.b, o.acks_b, ns_to_s(o.w.to - o.w.from), tr.wall(o.w.from), tr.wall(o.w.to),
        tr.rel_s(o.w.from), tr.rel_s(o.w.to)));
  }
  if (overlaps.size() > kListWindows)
    v.reasons.push_back(fmt::format("(+{} more overlaps of acknowledged writes)", overlaps.size() - kListWindows));
  if (overlaps.empty() && nodes.size() > 1) {
    auto moves = handovers(nodes, tr);
    if (moves.size() > kListWindows) moves.resize(kListWindows);
    summary += fmt::format("; no acknowledged writes on two nodes in overlapping time: {}", fmt::join(moves, "; "));
  } else if (overlaps.empty()) {
    summary += nodes.empty() ? "; no acknowledged write could be attributed to a node"
                             : "; no acknowledged writes on two nodes in overlapping time: one node took them all";
  }
  v.reasons.push_back(summary);
  return !overlaps.empty();
}

}  // namespace haverify::detail
