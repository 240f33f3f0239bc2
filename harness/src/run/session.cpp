#include "haverify/run/session.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/check/checkers.hpp"
#include "haverify/check/expectation.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/cluster/log_bundle.hpp"
#include "haverify/cluster/recovery_log.hpp"
#include "haverify/cluster/role_prober.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/final_state.hpp"
#include "haverify/run/progress.hpp"
#include "haverify/run/recover.hpp"
#include "haverify/run/run_log.hpp"
#include "haverify/run/steps.hpp"
#include "haverify/run/watches.hpp"
#include "haverify/workload/sampler.hpp"
#include "reports/stream.hpp"
#include "reports/summary.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace haverify {

namespace {

const std::string kRunner(op::proc::runner);

MemoryGrowthOptions memory_growth_options(const Scenario& sc) {
  MemoryGrowthOptions mg;
  if (sc.sampler) {
    mg.max_mb_per_hour = sc.sampler->memory_growth_mb_per_hour;
    mg.memory = sc.sampler->memory;
    mg.warmup_ns = static_cast<Nanos>(sc.sampler->warmup.count()) * 1'000'000;
    mg.min_samples = static_cast<std::size_t>(sc.sampler->min_samples);
    mg.max_restarts = sc.sampler->max_restarts;
    mg.restart_grace_ns = static_cast<Nanos>(sc.sampler->restart_grace.count()) * 1'000'000;
  }
  return mg;
}

// single_writer attributes each acknowledged write to the node whose address
// its server saw (when the probes have not named the server's instance).
SingleWriterOptions single_writer_options(const Inventory& inv, const RunOptions& opts) {
  SingleWriterOptions o;
  o.probe_interval = static_cast<Nanos>(opts.probe_interval.count()) * 1'000'000;
  std::set<std::string> shared;  // an address of two nodes (all on 127.0.0.1) names neither
  const auto add = [&](const std::string& addr, const std::string& node) {
    const auto [it, fresh] = o.node_of_address.emplace(addr, node);
    if (!fresh && it->second != node) shared.insert(addr);
  };
  for (const auto& n : inv.nodes) {
    add(n.postgres.host, n.name);
    for (const auto& i : n.interfaces) add(address_without_prefix(i.address), n.name);
  }
  for (const auto& a : shared) o.node_of_address.erase(a);
  return o;
}

ReadYourWritesOptions read_your_writes_options(const Scenario& sc, const Inventory& inv, const RunOptions& opts) {
  ReadYourWritesOptions o;
  o.node_of_address = single_writer_options(inv, opts).node_of_address;
  if (sc.reads) {
    o.max_stale = sc.reads->max_stale;
    o.max_stale_foreign = sc.reads->max_stale_foreign;
  }
  return o;
}

MetricsOptions metrics_options(const Scenario& sc) {
  MetricsOptions o;
  if (!sc.measure_from.empty()) {
    o.measure_from = sc.inject_step_of(sc.measure_from);
    o.measure_from_id = sc.measure_from;
  }
  return o;
}

// Everything the History hands its ops to: the checkers' and metrics' passes,
// the streaming report writers and the runner's watches. Built before the
// History and everything that appends to it, so it outlives them.
struct RunSinks {
  RunSinks(const Scenario& sc, const Inventory& inv, const RunOptions& opts, const std::string& run_dir, Nanos start)
      : single_writer(single_writer_options(inv, opts)),
        memory_growth(memory_growth_options(sc)),
        read_your_writes(read_your_writes_options(sc, inv, opts)),
        checker_feed(checkers(sc, inv)),
        metrics_pass(metrics_options(sc)),
        history_out(run_dir + "/history.jsonl"),
        events_out(run_dir + "/events.csv", start),
        throughput_out(run_dir + "/throughput.csv", start,
                       sc.sampler ? sc.sampler->interval : std::chrono::milliseconds(1000)) {
    if (sc.sampler) series_out.emplace(run_dir + "/series.csv", start);
    all = {&history_out, &events_out, &throughput_out, &metrics_pass, &checker_feed, &first_inject, &repairs};
    if (series_out) all.push_back(&*series_out);
  }
  // The live progress line (after the History's other sinks: it only counts).
  void start_progress(const RunOptions& opts, std::string label, std::size_t steps) {
    if (opts.progress == "off") return;
    ProgressOptions po;
    po.label = std::move(label);
    po.steps = steps;
    po.tty = opts.progress == "auto" && is_terminal(1);
    po.plain_every = opts.progress_every;
    progress = std::make_unique<Progress>(po, std::cout);
    all.push_back(progress.get());
  }
  std::vector<const Checker*> checkers(const Scenario& sc, const Inventory& inv) const {
    std::vector<const Checker*> c = {&single_writer, &convergence};
    if (sc.ledger) c.insert(c.begin(), &durability);
    if (sc.bank) c.push_back(&bank_checker);
    if (sc.reads) c.push_back(&read_your_writes);
    if (inv.driver.watchdog && !inv.driver.watchdog->vip.empty()) c.push_back(&single_vip);
    if (sc.sampler) c.push_back(&memory_growth);
    return c;
  }

  const DurabilityChecker durability;
  const SingleWriterChecker single_writer;
  const ConvergenceChecker convergence;
  const BankChecker bank_checker;
  const MemoryGrowthChecker memory_growth;
  const ReadYourWritesChecker read_your_writes;
  const SingleVipChecker single_vip;
  CheckerFeed checker_feed;
  MetricsPass metrics_pass;
  reports::HistoryJsonlWriter history_out;
  reports::EventsCsvWriter events_out;
  reports::ThroughputCsvWriter throughput_out;
  std::optional<reports::SeriesCsvWriter> series_out;
  FirstInjectWatch first_inject;
  RepairWatch repairs;
  std::vector<HistorySink*> all;
  std::unique_ptr<Progress> progress;  // --progress (not off)
};

class RunSession {
 public:
  explicit RunSession(const RunSessionParams& p);
  reports::RunRow run();

 private:
  void init_row();
  void setup();
  void run_step_logged(StepContext& ctx, const Step& step);
  void teardown(faults::FaultInjector& injector, faults::Execs& execs);
  void read_final_state();
  void finish_history();
  void read_recovery(std::chrono::milliseconds deadline);
  void compose_verdict();
  void collect_log_bundle();
  void close_reports();
  std::string prefix() const { return fmt::format("{} #{}", sc_.name, p_.repetition); }

  const RunSessionParams& p_;
  const Inventory& inv_;
  const Scenario& sc_;
  reports::RunRow row_;
  std::vector<std::string> target_labels_;  // the first inject step's, one per fault
  const Nanos start_ = mono_now_ns();
  const Nanos start_wall_ = wall_now_ns();
  std::unique_ptr<RunSinks> sinks_;  // declared before the History: outlives it
  History history_{/*keep_in_memory=*/false};
  AckWatch acks_;
  std::mt19937_64 rng_;
  const std::int64_t run_id_ = (wall_now_ns() / 1'000'000) % 9'000'000'000LL;
  TransportPool pool_;
  std::unique_ptr<ClusterDriver> driver_;
  RunWorkloads workloads_{inv_, history_};
  RoleProber prober_;
  std::unique_ptr<ProcessSampler> sampler_;
  std::unique_ptr<ClusterOps> cluster_ops_;
  FinalState final_state_;
  // The final primary's recovery phases, from its PostgreSQL log.
  RecoveryPhases recovery_;
  std::string error_;                    // haverify's own failure: verdict error (exit 3)
  std::string defect_;                   // the cluster stopped the steps (ClusterDefect): verdict fail
  std::vector<std::string> unverified_;  // faults with no way to verify them (power.verify: none)
};

RunSession::RunSession(const RunSessionParams& p)
    : p_(p),
      inv_(p.inv),
      sc_(p.sc),
      rng_(p.seed),
      pool_(p.inv),
      prober_(p.inv, history_, p.opts.probe_interval, p.opts.probe_deadline, p.opts.vip_probe_interval,
              p.opts.vip_probe_deadline) {
  init_row();
  fs::create_directories(p.run_dir);
  // The History streams to disk and into the metrics and checker passes as
  // it is appended; it keeps no ops (docs/architecture.md).
  sinks_ = std::make_unique<RunSinks>(sc_, inv_, p.opts, p.run_dir, start_);
  sinks_->start_progress(p.opts, prefix(), sc_.steps.size());
  for (HistorySink* s : sinks_->all) history_.add_sink(s);
  history_.set_listener([this](const Op& op) { acks_.on_op(op); });
  driver_ = make_driver(inv_, pool_, p.driver);
  if (sc_.sampler) sampler_ = std::make_unique<ProcessSampler>(inv_, history_, *sc_.sampler);
  WorkloadSettings& ws = workloads_.settings;
  ws.ledger = sc_.ledger.value_or(LedgerOptions{});
  ws.ledger.run_id = run_id_;
  ws.bank = sc_.bank.value_or(BankOptions{});
  ws.bank.run_id = run_id_;
  ws.bank.seed = p.seed;
  ws.reads = sc_.reads.value_or(ReadsOptions{});
  ws.reads.run_id = run_id_;
  ws.maintenance = sc_.maintenance.value_or(MaintenanceOptions{});
  cluster_ops_ = std::make_unique<ClusterOps>(inv_, *driver_, history_);
}

// The row's identity; fault and target are the first inject step's faults
// (several: joined with " & ").
void RunSession::init_row() {
  row_.scenario = sc_.name;
  row_.kind = sc_.kind;
  row_.stack = inv_.stack;
  row_.profile = inv_.profile;
  row_.disk = inv_.disk;
  row_.seed = p_.seed;
  row_.repetition = p_.repetition;
  row_.run_dir = p_.run_dir;
  row_.started = format_wall_ns(start_wall_);
  if (const Step* first = sc_.first_inject()) {
    std::vector<std::string> fault_labels;
    for (const auto& f : first->faults) {
      fault_labels.push_back(f.kind == "lan_cut" ? "lan_cut:" + f.lan : f.kind);
      target_labels_.push_back(fmt::format("{}", fmt::join(f.targets, "+")));
    }
    row_.fault = fmt::format("{}", fmt::join(fault_labels, " & "));
    row_.target = fmt::format("{}", fmt::join(target_labels_, " & "));
  }
}

reports::RunRow RunSession::run() {
  {
    const std::string run_name = fmt::format("{}-{}-r{}", sc_.name, run_id_, p_.repetition);
    faults::FaultInjector injector(inv_, pool_, p_.ledger, history_, run_name, p_.opts.fault_deadline);
    faults::Execs execs(pool_, p_.ledger, history_, run_name, p_.opts.fault_deadline);
    StepContext ctx{inv_,  sc_,           *driver_, pool_,      history_, rng_,          injector,
                    execs, *cluster_ops_, acks_,    workloads_, prefix(), target_labels_};
    try {
      setup();
      for (const auto& step : sc_.steps) run_step_logged(ctx, step);
    } catch (const ClusterDefect& e) {
      // The cluster misbehaved: a finding. The row keeps every checker's verdict.
      defect_ = e.what();
      history_.record(kRunner, OpType::fail, std::string(op::fn::run), "cluster defect", "", defect_);
      run_log("cluster defect: " + defect_);
    } catch (const std::exception& e) {
      error_ = e.what();
      history_.record(kRunner, OpType::fail, std::string(op::fn::run), "", "", error_);
      run_log("error: " + error_);
    }
    teardown(injector, execs);
  }
  read_final_state();
  finish_history();
  read_recovery(10s);
  compose_verdict();
  collect_log_bundle();
  close_reports();
  return row_;
}

// The nodes' log slices covering the run (run_dir/logs): always after a run
// that did not pass, after every run with --collect-logs always.
void RunSession::collect_log_bundle() {
  const std::string& when = p_.opts.collect_logs;
  if (when == "never" || (when == "failed" && row_.verdict == "pass")) return;
  LogBundleOptions o;
  o.since_wall = start_wall_;
  o.deadline = p_.opts.collect_deadline;
  const auto r = collect_logs(inv_, pool_, p_.run_dir + "/logs", o);
  run_log(fmt::format("{}: log bundle: {} slice(s) in {}/logs{}", prefix(), r.files, p_.run_dir,
                      r.notes.empty() ? "" : fmt::format(" ({} not read or cut: logs/collect.txt)", r.notes.size())));
}

void RunSession::setup() {
  const std::string setup(op::fn::setup);
  history_.record(kRunner, OpType::invoke, setup, sc_.name);
  wait_healthy(inv_, *driver_, pool_, history_,
               RecoverOptions{sc_.setup_timeout, 0ms,
                              p_.opts.repair_at_setup ? RepairMode::allowed : RepairMode::wait_only, "setup"});
  { std::ofstream(p_.run_dir + "/status-before.txt") << driver_->status_text(2000ms); }
  if (sc_.ledger) workloads_.prepare("ledger", p_.opts.workload_setup_deadline);
  if (sc_.bank) workloads_.prepare("bank", p_.opts.workload_setup_deadline);
  if (sc_.reads) workloads_.prepare("reads", p_.opts.workload_setup_deadline);
  if (sc_.maintenance) workloads_.prepare("maintenance", sc_.maintenance->deadline);
  history_.record(kRunner, OpType::ok, setup, sc_.name);
  prober_.start();
  if (sampler_) sampler_->start();
  if (sc_.has_cluster_steps()) cluster_ops_->capture_original_primary();
}

void RunSession::run_step_logged(StepContext& ctx, const Step& step) {
  if (cancel::requested()) throw HarnessFailure(cancel::reason());
  const std::string f(op::fn::step);
  run_log(fmt::format("{}: {}", prefix(), step.describe()));
  history_.record(kRunner, OpType::invoke, f, step.describe());
  if (const auto skipped = run_step(ctx, step))
    history_.record(kRunner, OpType::info, f, fmt::format("{} (skipped: {})", step.describe(), *skipped));
  else
    history_.record(kRunner, OpType::ok, f, step.describe());
}

// On every path: the workloads stop, background commands and faults are
// healed, and what cluster steps stopped is started again.
void RunSession::teardown(faults::FaultInjector& injector, faults::Execs& execs) {
  workloads_.stop_all();
  std::vector<std::string> heal_errors = execs.stop_all();
  for (auto& e : injector.heal_all()) heal_errors.push_back(std::move(e));
  unverified_ = injector.unverified();
  for (auto& e : cluster_ops_->restore(restore_deadline(sc_))) heal_errors.push_back(std::move(e));
  if (!heal_errors.empty()) error_ += fmt::format("{}{}", error_.empty() ? "" : "; ", fmt::join(heal_errors, "; "));
}

// The final state, once every standby has converged (or the deadline passed).
void RunSession::read_final_state() {
  try {
    FinalStateOptions fo;
    fo.run_id = run_id_;
    const WorkloadSettings& ws = workloads_.settings;
    if (sc_.ledger) fo.ledger_table = ws.ledger.table;
    if (sc_.bank) {
      fo.bank_table = ws.bank.table;
      fo.bank_expected_total = ws.bank.initial_balance * ws.bank.accounts;
      fo.bank_initial_balance = ws.bank.initial_balance;
    }
    run_log(fmt::format("{}: waiting for convergence (up to {} s)", prefix(), sc_.converge_timeout.count() / 1000));
    final_state_ = await_convergence(inv_, *driver_, fo, sc_.converge_timeout, history_);
  } catch (const std::exception& e) {
    if (error_.empty()) error_ = std::string("reading the final state failed: ") + e.what();
  }
}

// The last appends (status, the driver's detections), then the sinks are detached.
void RunSession::finish_history() {
  prober_.stop();
  if (sampler_) sampler_->stop();
  try {
    std::ofstream(p_.run_dir + "/status-after.txt") << driver_->status_text(2000ms);
  } catch (const std::exception& e) {
    // Informational only: the run's verdict does not depend on it.
    run_log(fmt::format("{}: status-after.txt not written: {}", prefix(), e.what()));
  }
  // The driver's detection events, with their own (earlier) timestamps: the
  // passes are still attached, so the metrics pass sees them (t_detect).
  if (const auto wall = sinks_->first_inject.wall()) record_detect_events(*driver_, history_, *wall);
  // Nothing appends any more: detach the sinks, then finish the passes.
  for (HistorySink* s : sinks_->all) history_.remove_sink(s);
}

// The recovery phases (redo_s, checkpoint_s) of the node primary at the end,
// from its PostgreSQL log, with the lines used in recovery.txt. Informational:
// a log that cannot be read leaves them empty and says why there.
void RunSession::read_recovery(std::chrono::milliseconds deadline) {
  const auto since = sinks_->first_inject.wall();
  const std::string& node = final_state_.primary;
  try {
    if (!since) {
      recovery_.notes.push_back("no fault was injected: no recovery to time");
    } else if (node.empty()) {
      recovery_.since_wall = *since;
      recovery_.notes.push_back("no final primary: whose log to read is unknown");
    } else {
      recovery_ = read_recovery_phases(inv_, pool_, node, *since, deadline);
    }
  } catch (const std::exception& e) {
    recovery_.notes.push_back(fmt::format("the server log of {} could not be read: {}", node, e.what()));
  }
  if (since) {
    const auto fig = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f} s", *v) : "unknown"; };
    const std::string what = !recovery_.kind.empty()   ? fmt::format("{}, redo {}, checkpoint {}", recovery_.kind,
                                                                     fig(recovery_.redo_s), fig(recovery_.checkpoint_s))
                             : recovery_.notes.empty() ? "nothing found"
                                                       : recovery_.notes.back();
    run_log(fmt::format("{}: recovery phases on {}: {} (recovery.txt)", prefix(), node.empty() ? "-" : node, what));
  }
  std::ofstream out(p_.run_dir + "/recovery.txt", std::ios::trunc);
  out << describe(recovery_, node);
  if (!out) run_log(fmt::format("{}: recovery.txt not written", prefix()));
}

// The metrics and the checkers' verdicts, composed with the scenario's bounds.
void RunSession::compose_verdict() {
  std::optional<std::set<std::int64_t>> final_ids;
  if (const NodeFinalState* p = final_state_.find(final_state_.primary)) final_ids = p->ledger_ids;
  row_.metrics = sinks_->metrics_pass.finish(final_ids);
  row_.metrics.redo_s = recovery_.redo_s;
  row_.metrics.checkpoint_s = recovery_.checkpoint_s;
  if (sc_.has_cluster_steps()) {
    try {
      reports::write_operations_csv(p_.run_dir + "/operations.csv", row_.metrics.operations, start_);
    } catch (const std::exception& e) {
      if (error_.empty()) error_ = e.what();
    }
  }
  row_.checkers = sinks_->checker_feed.finish(final_state_);
  if (sc_.expect || sc_.has_await_writes())
    row_.checkers.push_back(judge_expectation(sc_.expect, row_.metrics, final_state_));
  if (auto r = repairs_verdict(sinks_->repairs.repairs())) row_.checkers.push_back(std::move(*r));
  for (const auto& [k, v] : merged_figures(row_.checkers)) row_.metrics.figures[k] = v;
  row_.target = fmt::format("{}", fmt::join(target_labels_, " & "));
  const auto& skipped = cluster_ops_->skipped();
  const std::string skipped_note = skipped.empty() ? "" : fmt::format("skipped: {}", fmt::join(skipped, ", "));
  if (!error_.empty()) {
    // haverify's own failure; what the checkers found is kept beside it.
    row_.verdict = "error";
    row_.reason = error_;
    for (const auto& cv : row_.checkers)
      if (cv.status != CheckStatus::pass) row_.reason += "; " + format_verdict(cv);
    if (!skipped_note.empty()) row_.reason += "; " + skipped_note;
    return;
  }
  const Verdict v = evaluate(row_.metrics, sc_.checks);
  const CheckStatus c = compose(row_.checkers);
  std::vector<std::string> reasons;
  for (const auto& cv : row_.checkers)
    if (cv.status != CheckStatus::pass) reasons.push_back(format_verdict(cv));
  if (!defect_.empty() || !v.pass || c == CheckStatus::fail) {
    row_.verdict = "fail";
    if (!v.pass) reasons.insert(reasons.begin(), v.reason);
    if (!defect_.empty()) reasons.insert(reasons.begin(), "cluster defect: " + defect_);
  } else if (c == CheckStatus::unknown) {
    row_.verdict = "unknown";
  } else {
    row_.verdict = "pass";
    reasons.push_back(fmt::format("{}; {} checkers passed", v.reason, row_.checkers.size()));
  }
  if (!skipped_note.empty()) reasons.push_back(skipped_note);
  reasons.insert(reasons.end(), unverified_.begin(), unverified_.end());
  if (const auto& setup = sinks_->repairs.repairs().at_setup; !setup.empty())
    reasons.push_back(fmt::format("repaired at setup (--repair-at-setup): {}", fmt::join(setup, "; ")));
  row_.reason = fmt::format("{}", fmt::join(reasons, "; "));
}

void RunSession::close_reports() {
  row_.duration_s = ns_to_s(mono_now_ns() - start_);
  sinks_->events_out.close();
  sinks_->throughput_out.close();
  if (sinks_->series_out) sinks_->series_out->close();
  if (const std::string e = sinks_->history_out.close(); !e.empty()) {
    row_.verdict = "error";
    row_.reason += (row_.reason.empty() ? "" : "; ") + e;
  }
  reports::write_results_csv(p_.run_dir + "/results.csv", {row_});
  reports::write_checkers_txt(p_.run_dir + "/checkers.txt", row_.checkers);
  reports::write_run_json(p_.run_dir + "/run.json", row_);
}

}  // namespace

reports::RunRow run_session(const RunSessionParams& params) {
  return RunSession(params).run();
}

}  // namespace haverify
