#include "haverify/run/steps.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/cancel.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/recover.hpp"
#include "haverify/run/run_log.hpp"
#include "haverify/run/targets.hpp"

namespace haverify {

using namespace std::chrono_literals;

RunWorkloads::RunWorkloads(const Inventory& inv, History& history) : history_(history) {
  settings.inventory = &inv;
}

RunWorkloads::Entry* RunWorkloads::find(const std::string& name) {
  for (auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

RunWorkloads::Entry& RunWorkloads::entry(const std::string& name) {
  if (Entry* e = find(name)) return *e;
  entries_.push_back(Entry{name, make_workload(name, settings, history_)});
  return entries_.back();
}

void RunWorkloads::prepare(const std::string& name, std::chrono::milliseconds deadline) {
  entry(name).workload->prepare(deadline);
}

void RunWorkloads::start(const std::string& name) {
  Entry& e = entry(name);
  if (e.started) return;
  e.workload->start();
  e.started = true;
}

void RunWorkloads::stop(const std::string& name) {
  if (Entry* e = find(name)) e->workload->stop();
}

void RunWorkloads::stop_all() {
  for (auto& e : entries_) e.workload->stop();
}

MaintenanceWorkload& RunWorkloads::maintenance() {
  Entry* e = find("maintenance");
  auto* m = e ? dynamic_cast<MaintenanceWorkload*>(e->workload.get()) : nullptr;
  if (!m) throw HarnessFailure("a maintenance step needs the scenario's `maintenance:` block");
  return *m;
}

namespace {

// Sleeps `d`; throws HarnessFailure when the run is cancelled meanwhile.
void sleep_or_cancel(std::chrono::milliseconds d) {
  if (!cancel::sleep_for(d)) throw HarnessFailure(cancel::reason());
}

void throw_if_errors(const std::vector<std::string>& errs) {
  if (!errs.empty()) throw HarnessFailure(fmt::format("{}", fmt::join(errs, "; ")));
}

std::optional<std::string> step_cluster(StepContext& ctx, const Step& step) {
  auto skipped = ctx.cluster_ops.run(step.cluster, ctx.rng);
  // A later await_writes waits for a write invoked after the operation
  // ended: writes invoked while it ran may have committed before the
  // stall it causes (a switchover's old primary serves until demoted).
  ctx.acks.arm(mono_now_ns());
  if (skipped) run_log(fmt::format("{}: skipped ({})", ctx.log_prefix, *skipped));
  return skipped;
}

// An empty name is the ledger (`start:` alone).
std::string workload_of(const Step& step) {
  return step.workload.empty() ? "ledger" : step.workload;
}

void step_start(StepContext& ctx, const Step& step) {
  ctx.workloads.start(workload_of(step));
}

void step_stop(StepContext& ctx, const Step& step) {
  ctx.workloads.stop(workload_of(step));
}

// A long wait, with a line of progress every minute.
void step_soak(StepContext& ctx, const Step& step) {
  const auto until = std::chrono::steady_clock::now() + step.duration;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    sleep_or_cancel(std::min<std::chrono::milliseconds>(left, 60s));
    if (left > 60s)
      run_log(fmt::format("{}: soak: {} s left, {} ops so far", ctx.log_prefix, (left.count() - 60000) / 1000,
                          ctx.history.size()));
  }
}

void step_exec(StepContext& ctx, const Step& step) {
  const auto nodes = resolve_targets_now({step.exec.target}, ctx.inv, ctx.driver, ctx.rng, &ctx.pool);
  if (step.exec.background) {
    const std::string id = step.exec.id.empty() ? fmt::format("x{}", ++ctx.auto_exec_id) : step.exec.id;
    ctx.execs.start(id, nodes.front(), step.exec.command);
  } else {
    ctx.execs.run(nodes.front(), step.exec.command, step.exec.timeout);
  }
}

void step_maintenance(StepContext& ctx, const Step& step) {
  const auto& m = step.maintenance;
  if (!ctx.workloads.maintenance().run_once(m.op, m.table, m.from, m.background))
    throw HarnessFailure(fmt::format("maintenance {} failed (see history.jsonl)", m.op));
}

// The faults of the step with their targets resolved against one snapshot of
// the roles (so that they agree on who is primary).
std::vector<faults::StepFault> resolve_step_faults(StepContext& ctx, const Step& step) {
  const std::vector<std::string> nodes = node_names(ctx.inv), aux = aux_names(ctx.inv);
  RoleSnapshot roles(ctx.inv, ctx.driver, &ctx.pool);
  std::vector<faults::StepFault> out;
  for (const auto& f : step.faults) {
    faults::StepFault sf{f.id.empty() ? fmt::format("f{}", ++ctx.auto_fault_id) : f.id, f,
                         resolve_targets(f.targets, nodes, roles, ctx.rng, aux)};
    // A cut between two hosts: its peer from the same snapshot (PostgreSQL nodes only).
    if (!f.peer.empty()) sf.spec.peer_nodes = resolve_targets({f.peer}, nodes, roles, ctx.rng);
    out.push_back(std::move(sf));
  }
  return out;
}

void step_inject(StepContext& ctx, const Step& step) {
  const auto step_faults = resolve_step_faults(ctx, step);
  if (&step == ctx.sc.first_inject())
    for (std::size_t i = 0; i < step_faults.size(); ++i)
      ctx.first_inject_targets[i] += fmt::format("->{}", fmt::join(step_faults[i].nodes, "+"));
  ctx.injector.inject_step(step_faults);
  // Writes resume once one invoked after the fault is acknowledged.
  ctx.acks.arm(mono_now_ns());
  // Each fault with a duration is healed that long after the injection.
  std::vector<std::pair<std::chrono::milliseconds, std::string>> timed;
  for (const auto& sf : step_faults)
    if (sf.spec.duration) timed.emplace_back(*sf.spec.duration, sf.id);
  std::sort(timed.begin(), timed.end());
  const auto injected = std::chrono::steady_clock::now();
  for (const auto& [d, id] : timed) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(injected + d - std::chrono::steady_clock::now());
    if (left.count() > 0) sleep_or_cancel(left);
    throw_if_errors(ctx.injector.heal(id));
  }
}

void step_await_writes(StepContext& ctx, const Step& step) {
  const auto until = std::chrono::steady_clock::now() + step.duration;
  while (!ctx.acks.resumed() && std::chrono::steady_clock::now() < until) sleep_or_cancel(10ms);
  const std::string f(op::fn::writes_resumed), runner(op::proc::runner);
  if (ctx.acks.resumed())
    ctx.history.record(runner, OpType::ok, f, "");
  else
    ctx.history.record(runner, OpType::fail, f, "", "",
                       fmt::format("writes never resumed within {:.3f} s", ms_to_s(step.duration)));
}

}  // namespace

std::optional<std::string> run_step(StepContext& ctx, const Step& step) {
  switch (step.kind) {
    case StepKind::cluster:
      return step_cluster(ctx, step);
    case StepKind::start:
      step_start(ctx, step);
      break;
    case StepKind::stop:
      step_stop(ctx, step);
      break;
    case StepKind::wait:
      sleep_or_cancel(step.duration);
      break;
    case StepKind::soak:
      step_soak(ctx, step);
      break;
    case StepKind::exec:
      step_exec(ctx, step);
      break;
    case StepKind::maintenance:
      step_maintenance(ctx, step);
      break;
    case StepKind::inject:
      step_inject(ctx, step);
      break;
    case StepKind::heal:
      throw_if_errors(step.heal_id == "all" ? ctx.injector.heal_all() : ctx.injector.heal(step.heal_id));
      break;
    case StepKind::await_writes:
      step_await_writes(ctx, step);
      break;
    case StepKind::recover:
      recover(ctx.inv, ctx.driver, ctx.pool, ctx.history,
              RecoverOptions{step.duration, step.settle,
                             step.repair_allowed ? RepairMode::allowed : RepairMode::findings, ""});
      break;
  }
  return std::nullopt;
}

}  // namespace haverify
