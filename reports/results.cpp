#include "reports/results.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/atomic_file.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/csv.hpp"
#include "reports/stream.hpp"

namespace haverify::reports {

const std::vector<ResultsColumn>& results_columns() {
  using enum ColumnType;
  static const std::vector<ResultsColumn> c = {
      {"scenario", kText},
      {"kind", kText},
      {"stack", kText},
      {"profile", kText},
      {"disk", kText},
      {"fault", kText},
      {"target", kText},
      {"seed", kCount},
      {"repetition", kCount},
      {"t_inject_sent", kText},
      {"t_inject_returned", kText},
      {"injection_skew_ms", kMeasure},
      {"t_detect", kText},
      {"t_promote", kText},
      {"t_first_write", kText},
      {"detect_s", kMeasure},
      {"promote_s", kMeasure},
      {"redo_s", kMeasure},
      {"checkpoint_s", kMeasure},
      {"failover_s", kMeasure},
      {"downtime_s", kMeasure},
      {"lost_acked", kCount},
      {"unknown_commits", kCount},
      {"failed_writes", kCount},
      {"acked_total", kCount},
      {"lost_unknown", kCount},
      {"failed_but_present", kCount},
      {"split_brain_windows", kCount},
      {"converged_s", kMeasure},
      {"bank_ok", kCount},
      {"checkers", kText},
      {"verdict", kText},
      {"reason", kText},
      {"run_dir", kText},
      {"p99_latency_ms", kMeasure},
      {"max_rss_slope_mb_h", kMeasure},
      {"op_s", kMeasure},
      {"stall_s", kMeasure},
      {"measured_from", kText},
      {"duration_s", kMeasure},
      {"maintenance_in_flight", kCount},
      {"vip_s", kMeasure},
      {"dns_s", kMeasure},
  };
  return c;
}

const std::vector<std::string>& results_header() {
  static const std::vector<std::string> h = [] {
    std::vector<std::string> out;
    for (const auto& c : results_columns()) out.push_back(c.name);
    return out;
  }();
  return h;
}

// A checker figure, empty when the checker could not compute it.
static std::string figure(const RunMetrics& m, const std::string& name, int decimals) {
  auto it = m.figures.find(name);
  if (it == m.figures.end()) return {};
  return fmt::format("{:.{}f}", it->second, decimals);
}

// "durability=pass single_writer=fail ..."
static std::string checker_summary(const std::vector<CheckerVerdict>& checkers) {
  std::string out;
  for (const auto& c : checkers) out += fmt::format("{}{}={}", out.empty() ? "" : " ", c.checker, to_string(c.status));
  return out;
}

static std::string fmt_instant(const std::optional<Instant>& i) {
  return i ? format_wall_ns(i->wall) : std::string();
}
static std::string fmt_seconds(const std::optional<double>& d) {
  return d ? fmt::format("{:.3f}", *d) : std::string();
}

std::vector<std::string> results_fields(const RunRow& r) {
  if (!r.recorded.empty()) return r.recorded;
  const auto& m = r.metrics;
  return {r.scenario,
          r.kind,
          r.stack,
          r.profile,
          r.disk,
          r.fault,
          r.target,
          std::to_string(r.seed),
          std::to_string(r.repetition),
          fmt_instant(m.t_inject_sent),
          fmt_instant(m.t_inject_returned),
          figure(m, "injection_skew_ms", 3),
          fmt_instant(m.t_detect),
          fmt_instant(m.t_promote),
          fmt_instant(m.t_first_write),
          fmt_seconds(m.detect_s),
          fmt_seconds(m.promote_s),
          fmt_seconds(m.redo_s),
          fmt_seconds(m.checkpoint_s),
          fmt_seconds(m.failover_s),
          fmt_seconds(m.downtime_s),
          m.lost_acked ? std::to_string(*m.lost_acked) : std::string(),
          std::to_string(m.unknown_commits),
          std::to_string(m.failed_writes),
          std::to_string(m.acked_total),
          figure(m, "lost_unknown", 0),
          figure(m, "failed_but_present", 0),
          figure(m, "split_brain_windows", 0),
          figure(m, "converged_s", 3),
          figure(m, "bank_ok", 0),
          checker_summary(r.checkers),
          r.verdict,
          r.reason,
          r.run_dir,
          m.p99_latency_ms ? fmt::format("{:.3f}", *m.p99_latency_ms) : std::string(),
          figure(m, "max_rss_slope_mb_h", 2),
          fmt_seconds(m.op_s),
          fmt_seconds(m.stall_s),
          m.measured_from,
          fmt::format("{:.3f}", r.duration_s),
          figure(m, "maintenance_in_flight", 0),
          figure(m, "vip_s", 3),
          figure(m, "dns_s", 3)};
}

void write_results_csv(const std::string& path, const std::vector<RunRow>& rows) {
  std::string text = csv_line(results_header());
  for (const auto& r : rows) {
    auto fields = results_fields(r);
    for (auto& f : fields)
      for (char& c : f)
        if (c == '\r' || c == '\n') c = ' ';
    text += csv_line(fields);
  }
  write_file_atomic(path, text);
}

void write_checkers_txt(const std::string& path, const std::vector<CheckerVerdict>& checkers) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& c : checkers) {
    out << format_verdict(c) << '\n';
    for (const auto& [name, value] : c.figures) out << fmt::format("  {} = {}\n", name, value);
  }
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path));
}

void write_operations_csv(const std::string& path, const std::vector<OperationRecord>& ops, Nanos run_start_mono) {
  CsvWriter w(path, {"op", "node", "start", "t_rel_s", "duration_s", "stall_s", "outcome", "detail"});
  for (const auto& o : ops)
    w.row({o.op, o.node, format_wall_ns(o.start.wall), fmt::format("{:.3f}", ns_to_s(o.start.mono - run_start_mono)),
           fmt_seconds(o.duration_s), fmt_seconds(o.stall_s), o.outcome, o.detail});
  w.flush();
}

void write_events_csv(const std::string& path, const std::vector<Op>& history, Nanos run_start_mono) {
  CsvWriter w(path, {"time", "t_rel_s", "process", "type", "f", "value", "node", "error"});
  for (const auto& op : history) {
    using namespace op;
    if (!is_from(op, proc::runner) && !is_from(op, proc::nemesis) && !is_from(op, proc::probe) &&
        !is_from(op, proc::driver))
      continue;
    if (op.f == fn::state) continue;  // the 50 ms probe samples are in history.jsonl
    w.row({format_wall_ns(op.wall_ns), fmt::format("{:.3f}", ns_to_s(op.mono_ns - run_start_mono)), op.process,
           to_string(op.type), op.f, op.value, op.node, op.error});
  }
  w.flush();
}

void write_history_jsonl(const std::string& path, const std::vector<Op>& history) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path));
  for (const auto& op : history) out << history_json_line(op) << '\n';
}

std::string summary_table(const std::vector<RunRow>& rows) {
  std::string out = fmt::format("{:<34} {:>3} {:<7} {:>10} {:>10} {:>8} {:>6} {:>7}  {}\n", "scenario", "rep",
                                "verdict", "failover_s", "downtime_s", "acked", "lost", "unknown", "reason");
  for (const auto& r : rows) {
    const auto& m = r.metrics;
    std::string reason = r.reason;
    if (reason.size() > 90) reason = reason.substr(0, 87) + "...";
    out += fmt::format("{:<34} {:>3} {:<7} {:>10} {:>10} {:>8} {:>6} {:>7}  {}\n", r.scenario, r.repetition, r.verdict,
                       m.failover_s ? fmt::format("{:.3f}", *m.failover_s) : "-",
                       m.downtime_s ? fmt::format("{:.3f}", *m.downtime_s) : "-", m.acked_total,
                       m.lost_acked ? std::to_string(*m.lost_acked) : "-", m.unknown_commits, reason);
  }
  return out;
}

}  // namespace haverify::reports
