// The checker interface's common part: Checker's defaults, run_checker(s),
// the streaming CheckerFeed and the verdict helpers (compose, format).
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "haverify/check/checker.hpp"

namespace haverify {

namespace {

// The pass behind the default Checker::start(): keeps every op.
class WholeHistoryPass final : public CheckerPass {
 public:
  explicit WholeHistoryPass(const Checker& c) : c_(c) {}
  void observe(const Op& op) override { ops_.push_back(op); }
  CheckerVerdict finish(const FinalState& final) override { return c_.check(ops_, final); }

 private:
  const Checker& c_;
  std::vector<Op> ops_;
};

}  // namespace

const char* to_string(CheckStatus s) {
  switch (s) {
    case CheckStatus::pass:
      return "pass";
    case CheckStatus::fail:
      return "fail";
    case CheckStatus::unknown:
      return "unknown";
  }
  return "?";
}

const NodeFinalState* FinalState::find(const std::string& node) const {
  if (node.empty()) return nullptr;
  for (const auto& n : nodes) {
    if (n.node == node) return &n;
  }
  return nullptr;
}

std::unique_ptr<CheckerPass> Checker::start() const {
  return std::make_unique<WholeHistoryPass>(*this);
}

CheckerVerdict Checker::check(const std::vector<Op>& history, const FinalState& final) const {
  auto pass = start();
  for (const Op& op : history) pass->observe(op);
  CheckerVerdict v = pass->finish(final);
  if (v.checker.empty()) v.checker = name();
  return v;
}

namespace {

CheckerVerdict thrown(const std::string& name, const std::string& why) {
  CheckerVerdict v;
  v.checker = name.empty() ? std::string("?") : name;
  v.status = CheckStatus::unknown;
  v.reasons.push_back(why);
  return v;
}

// Runs f() (which returns a verdict); an exception becomes unknown.
template <typename F>
CheckerVerdict guarded(const std::string& name, F&& f) {
  try {
    CheckerVerdict v = f();
    if (v.checker.empty()) v.checker = name;
    return v;
  } catch (const std::exception& e) {
    return thrown(name, fmt::format("checker threw: {}", e.what()));
  } catch (...) {
    return thrown(name, "checker threw a non-standard exception");
  }
}

// A checker whose name() throws is named "?": its verdict still says why
// when start() or check() throws too, and a name is all that is lost.
std::string name_of(const Checker& c) {
  try {
    return c.name();
  } catch (...) {
    return "?";
  }
}

}  // namespace

CheckerVerdict run_checker(const Checker& c, const std::vector<Op>& history, const FinalState& final) {
  const std::string name = name_of(c);
  return guarded(name, [&] { return c.check(history, final); });
}

struct CheckerFeed::Slot {
  std::string name;
  std::unique_ptr<CheckerPass> pass;
  std::string error;  // set when the pass threw; it is then dropped
};

CheckerFeed::CheckerFeed(const std::vector<const Checker*>& checkers) {
  for (const Checker* c : checkers) {
    if (!c) continue;
    Slot s;
    s.name = name_of(*c);
    try {
      s.pass = c->start();
      if (!s.pass) s.error = "checker threw: start() gave no pass";
    } catch (const std::exception& e) {
      s.error = fmt::format("checker threw: {}", e.what());
    } catch (...) {
      s.error = "checker threw a non-standard exception";
    }
    slots_.push_back(std::move(s));
  }
}

CheckerFeed::~CheckerFeed() = default;

void CheckerFeed::on_op(const Op& op) {
  for (auto& s : slots_) {
    if (!s.pass) continue;
    try {
      s.pass->observe(op);
    } catch (const std::exception& e) {
      s.error = fmt::format("checker threw: {} (at op {})", e.what(), op.index);
      s.pass.reset();
    } catch (...) {
      s.error = "checker threw a non-standard exception";
      s.pass.reset();
    }
  }
}

std::vector<CheckerVerdict> CheckerFeed::finish(const FinalState& final) {
  std::vector<CheckerVerdict> out;
  out.reserve(slots_.size());
  for (auto& s : slots_) {
    if (!s.pass) {
      out.push_back(thrown(s.name, s.error));
      continue;
    }
    out.push_back(guarded(s.name, [&] { return s.pass->finish(final); }));
    s.pass.reset();
  }
  return out;
}

std::vector<CheckerVerdict> run_checkers(const std::vector<const Checker*>& checkers, const std::vector<Op>& history,
                                         const FinalState& final) {
  std::vector<CheckerVerdict> out;
  out.reserve(checkers.size());
  for (const Checker* c : checkers) {
    if (!c) continue;
    out.push_back(run_checker(*c, history, final));
  }
  return out;
}

CheckStatus compose(const std::vector<CheckerVerdict>& verdicts) {
  bool any_unknown = false;
  for (const auto& v : verdicts) {
    if (v.status == CheckStatus::fail) return CheckStatus::fail;
    if (v.status == CheckStatus::unknown) any_unknown = true;
  }
  return any_unknown ? CheckStatus::unknown : CheckStatus::pass;
}

std::map<std::string, double> merged_figures(const std::vector<CheckerVerdict>& verdicts) {
  std::map<std::string, double> out;
  for (const auto& v : verdicts) {
    for (const auto& [k, x] : v.figures) out[k] = x;
  }
  return out;
}

std::string format_verdict(const CheckerVerdict& v) {
  std::string out = fmt::format("{} {}", v.checker, to_string(v.status));
  for (std::size_t i = 0; i < v.reasons.size(); ++i) {
    out += i == 0 ? ": " : "; ";
    out += v.reasons[i];
  }
  return out;
}

}  // namespace haverify
