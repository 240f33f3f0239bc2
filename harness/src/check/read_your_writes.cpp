// The read_your_writes checker: stale reads of acknowledged rows, per node
// (docs/checkers.md).
#include "haverify/check/read_your_writes.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

using detail::count;

constexpr std::size_t kListStale = 5;  // stale reads described

struct NodeReads {
  std::size_t reads = 0, stale = 0, stale_foreign = 0;
};

// One completed read, from its op's value.
struct ReadRecord {
  std::int64_t id = 0;
  bool own = true, seen = true;
  double since_ack_ms = 0;
  std::optional<double> visible_after_ms;
  std::string server;  // node, or addr:port
};

class ReadYourWritesPass final : public CheckerPass {
 public:
  explicit ReadYourWritesPass(const ReadYourWritesOptions& o) : o_(o) {}

  void observe(const Op& op) override {
    tr_.observe(op);
    if (!op::is_reader(op) || op.f != op::fn::read || op.type != OpType::ok) return;
    const auto r = parse(op.value);
    if (!r) {
      if (++bad_ == 1) first_bad_ = fmt::format("{} read '{}' at {}", op.process, op.value, format_wall_ns(op.wall_ns));
      return;
    }
    NodeReads& n = nodes_[r->server];
    ++n.reads;
    ++reads_;
    if (r->seen) return;
    ++(r->own ? n.stale : n.stale_foreign);
    ++(r->own ? stale_ : stale_foreign_);
    const double staleness = r->visible_after_ms.value_or(r->since_ack_ms);
    if (!r->visible_after_ms) ++unresolved_;
    worst_ms_ = std::max(worst_ms_, staleness);
    if (described_.size() < kListStale)
      described_.push_back(fmt::format("{} read {} row {} on {} at {} (t={:.3f} s), {:.3f} ms after its ack: {}",
                                       op.process, r->own ? "its own" : "another client's", r->id, r->server,
                                       format_wall_ns(op.wall_ns), tr_.rel_s(op.mono_ns), r->since_ack_ms,
                                       r->visible_after_ms
                                           ? fmt::format("seen {:.3f} ms after the ack", *r->visible_after_ms)
                                           : std::string("not seen by any re-read")));
  }

  CheckerVerdict finish(const FinalState&) override {
    CheckerVerdict v;
    v.checker = "read_your_writes";
    v.figures = {{"reads_ok", count(reads_)},
                 {"reads_stale", count(stale_)},
                 {"reads_stale_foreign", count(stale_foreign_)},
                 {"reads_stale_unresolved", count(unresolved_)},
                 {"read_staleness_ms", worst_ms_},
                 {"reads_bad", count(bad_)}};
    std::string served;
    for (const auto& [server, n] : nodes_) {
      v.figures["reads_on_" + server] = count(n.reads);
      v.figures["reads_stale_on_" + server] = count(n.stale + n.stale_foreign);
      served += fmt::format("{}{} {}", served.empty() ? "reads served by: " : ", ", server, n.reads);
    }
    if (!served.empty()) v.reasons.push_back(served);
    for (const auto& [server, n] : nodes_)
      if (n.stale + n.stale_foreign > 0)
        v.reasons.push_back(fmt::format("{}: {} of {} reads stale ({} of the client's own rows, {} of others')", server,
                                        n.stale + n.stale_foreign, n.reads, n.stale, n.stale_foreign));
    for (const auto& d : described_) v.reasons.push_back(d);
    v.status = verdict(v.reasons);
    return v;
  }

 private:
  CheckStatus verdict(std::vector<std::string>& reasons) const {
    if (bad_ > 0) {
      reasons.insert(reasons.begin(), fmt::format("{} read op(s) not understood, e.g. {}", bad_, first_bad_));
      return CheckStatus::unknown;
    }
    if (reads_ == 0) {
      reasons.insert(reasons.begin(), "no read completed: no evidence either way");
      return CheckStatus::unknown;
    }
    const bool own_bad = static_cast<std::int64_t>(stale_) > o_.max_stale;
    const bool foreign_bad =
        o_.max_stale_foreign >= 0 && static_cast<std::int64_t>(stale_foreign_) > o_.max_stale_foreign;
    std::string summary = fmt::format(
        "{} of {} reads stale: {} of the client's own acknowledged rows (at most {} allowed), {} of other clients' "
        "({}); worst staleness {:.3f} ms",
        stale_ + stale_foreign_, reads_, stale_, o_.max_stale, stale_foreign_,
        o_.max_stale_foreign < 0 ? std::string("reported only")
                                 : fmt::format("at most {} allowed", o_.max_stale_foreign),
        worst_ms_);
    reasons.insert(reasons.begin(), std::move(summary));
    return own_bad || foreign_bad ? CheckStatus::fail : CheckStatus::pass;
  }

  std::optional<ReadRecord> parse(const std::string& value) const {
    const auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return std::nullopt;
    const auto id = j.find("id"), own = j.find("own"), seen = j.find("seen"), since = j.find("since_ack_ms"),
               addr = j.find("addr"), port = j.find("port");
    if (id == j.end() || !id->is_number_integer() || own == j.end() || !own->is_boolean() || seen == j.end() ||
        !seen->is_boolean() || since == j.end() || !since->is_number() || addr == j.end() || !addr->is_string() ||
        port == j.end() || !port->is_number_integer())
      return std::nullopt;
    ReadRecord r;
    r.id = id->get<std::int64_t>();
    r.own = own->get<bool>();
    r.seen = seen->get<bool>();
    r.since_ack_ms = since->get<double>();
    if (const auto va = j.find("visible_after_ms"); va != j.end() && va->is_number())
      r.visible_after_ms = va->get<double>();
    const std::string a = addr->get<std::string>();
    const auto it = o_.node_of_address.find(a);
    r.server = it != o_.node_of_address.end() ? it->second : fmt::format("{}:{}", a, port->get<std::int64_t>());
    return r;
  }

  const ReadYourWritesOptions& o_;
  detail::TimeRef tr_;
  std::map<std::string, NodeReads> nodes_;
  std::size_t reads_ = 0, stale_ = 0, stale_foreign_ = 0, unresolved_ = 0, bad_ = 0;
  double worst_ms_ = 0;
  std::string first_bad_;
  std::vector<std::string> described_;
};

}  // namespace

std::unique_ptr<CheckerPass> ReadYourWritesChecker::start() const {
  return std::make_unique<ReadYourWritesPass>(options_);
}

}  // namespace haverify
