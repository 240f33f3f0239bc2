#include "haverify/run/cluster_ops.hpp"

#include <functional>

#include <fmt/format.h>

#include "haverify/cluster/observe.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/run_log.hpp"
#include "haverify/run/targets.hpp"

namespace haverify {

using namespace std::chrono_literals;

namespace {
const std::string kDriver(op::proc::driver);
const std::string kRunner(op::proc::runner);
}  // namespace

void ClusterOps::capture_original_primary() {
  original_ = current_primary(inv_, driver_);
  history_.record(kRunner, original_.empty() ? OpType::fail : OpType::ok, std::string(op::fn::original_primary),
                  original_, original_, original_.empty() ? "no node serves as the primary" : "");
}

std::optional<std::string> ClusterOps::run(const ClusterStepSpec& c, std::mt19937_64& rng) {
  if (auto why = skip_reason(c)) {
    history_.record(kDriver, OpType::info, c.op, "skipped: " + *why, "");
    skipped_.push_back(fmt::format("{} ({})", c.op, *why));
    return why;
  }
  const std::string node = c.node.empty() ? std::string() : resolve(c.node, rng);
  history_.record(kDriver, OpType::invoke, c.op, node, node);
  const auto t0 = std::chrono::steady_clock::now();
  auto ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  std::string done;
  try {
    done = perform(c, node);
  } catch (const ClusterDefect& e) {
    // The cluster did not do it in time, or refused: a finding (verdict fail), not haverify's failure.
    history_.record(kDriver, OpType::fail, c.op, fmt::format("{}; {} ms", node, ms()), node, e.what());
    throw ClusterDefect(fmt::format("cluster {}{}: {}", c.op, node.empty() ? "" : " " + node, e.what()));
  } catch (const std::exception& e) {
    history_.record(kDriver, OpType::fail, c.op, fmt::format("{}; {} ms", node, ms()), node, e.what());
    throw HarnessFailure(fmt::format("cluster {}{}: {}", c.op, node.empty() ? "" : " " + node, e.what()));
  }
  history_.record(kDriver, OpType::ok, c.op, fmt::format("{}; {} ms", done, ms()), node);
  return std::nullopt;
}

std::string ClusterOps::perform(const ClusterStepSpec& c, const std::string& node) {
  if (c.op == "switchover") {
    previous_ = current_primary(inv_, driver_);
    driver_.switchover(node, c.timeout);
    return fmt::format("{} (from {})", node, previous_.empty() ? "?" : previous_);
  }
  if (c.op == "stop_node") {
    down_.insert(node);
    driver_.stop_node(node, c.timeout);
    stopped_ = node;
  } else if (c.op == "start_node") {
    driver_.start_node(node, c.timeout);
    down_.erase(node);
  } else if (c.op == "rejoin") {
    const std::string primary = current_primary(inv_, driver_);
    if (primary.empty()) throw std::runtime_error(driver_.name() + " names no primary to rejoin to");
    if (primary == node) throw std::runtime_error(node + " is the primary: nothing to rejoin");
    driver_.rejoin(node, primary, c.timeout);
    down_.erase(node);
    return fmt::format("{} (to {})", node, primary);
  } else if (c.op == "rebuild") {
    driver_.rebuild(node, c.timeout);
    down_.erase(node);
  } else if (c.op == "stop") {
    cluster_stopped_ = true;
    return fmt::format("all (primary {} last)", driver_.stop_cluster(c.timeout));
  } else if (c.op == "start") {
    std::string done = fmt::format("all (primary {})", driver_.start_cluster(c.timeout));
    cluster_stopped_ = false;
    down_.clear();
    return done;
  } else {
    throw std::runtime_error("unknown operation");
  }
  return node;
}

std::vector<std::string> ClusterOps::restore(std::chrono::milliseconds deadline) {
  std::vector<std::string> errors;
  const std::string restore(op::fn::restore);
  auto attempt = [&](const std::string& what, const std::function<void()>& f) {
    run_log("restore: " + what);
    history_.record(kRunner, OpType::invoke, restore, what);
    try {
      f();
      history_.record(kRunner, OpType::ok, restore, what);
    } catch (const std::exception& e) {
      history_.record(kRunner, OpType::fail, restore, what, "", e.what());
      errors.push_back(fmt::format("restore: {} failed: {}", what, e.what()));
    }
  };
  if (cluster_stopped_)
    attempt("start of the cluster", [&] { driver_.start_cluster(deadline); });
  else
    for (const auto& n : down_) attempt("start of " + n, [&] { driver_.start_node(n, deadline); });
  cluster_stopped_ = false;
  down_.clear();
  return errors;
}

std::optional<std::string> ClusterOps::skip_reason(const ClusterStepSpec& c) const {
  for (const auto& cond : c.skip_if) {
    if (cond == "shared_disk" && !driver_.replicated()) return cond;
    if (cond == "driver:" + driver_.name()) return cond;
  }
  return std::nullopt;
}

std::string ClusterOps::resolve(const std::string& word, std::mt19937_64& rng) {
  if (word == "original_primary") {
    if (original_.empty()) throw HarnessFailure("original_primary: no node served as the primary when the steps began");
    return original_;
  }
  if (word == "stopped") {
    if (stopped_.empty()) throw HarnessFailure("stopped: no earlier stop_node step stopped a node");
    return stopped_;
  }
  if (word == "previous_primary") {
    if (previous_.empty()) throw HarnessFailure("previous_primary: no earlier switchover step named a primary");
    return previous_;
  }
  return resolve_targets_now({word}, inv_, driver_, rng).front();
}

std::chrono::milliseconds restore_deadline(const Scenario& sc) {
  std::chrono::milliseconds d{0};
  for (const auto& s : sc.steps)
    if (s.kind == StepKind::cluster) d = std::max(d, s.cluster.timeout);
  return std::max<std::chrono::milliseconds>(d, 60s);
}

}  // namespace haverify
