#include "haverify/cluster/recovery_log.hpp"

#include <cstdlib>
#include <regex>
#include <string_view>

#include <fmt/format.h>

#include "haverify/core/clock.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

namespace {

// PostgreSQL 15's messages (xlogrecovery.c, xlog.c), as the server logs them
// after its log_line_prefix and "LOG:  ", in English (lc_messages C or en).
constexpr std::string_view kSeverity = "LOG:  ";
constexpr std::string_view kCrash = "database system was not properly shut down; automatic recovery in progress";
constexpr std::string_view kPromoteRequest = "received promote request";
constexpr std::string_view kPromoteTrigger = "promote trigger file found: ";
constexpr std::string_view kRedoStarts = "redo starts at ";
constexpr std::string_view kRedoDone = "redo done at ";
constexpr std::string_view kRedoNotRequired = "redo is not required";
constexpr std::string_view kCheckpointStarting = "checkpoint starting:";
constexpr std::string_view kCheckpointComplete = "checkpoint complete:";

// What the server says in a LOG line, after its prefix; empty for another severity.
std::string_view message_of(const std::string& line) {
  const auto at = line.find(kSeverity);
  if (at == std::string::npos) return {};
  return std::string_view(line).substr(at + kSeverity.size());
}

bool starts(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The number after `label` in `s` ("elapsed: 0.14 s" -> 0.14), if any.
std::optional<double> figure_after(std::string_view s, std::string_view label) {
  const auto at = s.find(label);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string rest(s.substr(at + label.size()));
  char* end = nullptr;
  const double v = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str() || v < 0) return std::nullopt;
  return v;
}

double seconds_between(Nanos from, Nanos to) {
  return static_cast<double>(to - from) / 1e9;
}

// One pass over the lines: the first recovery that starts, its redo, then
// the first checkpoint that completes after it.
class RecoveryScan {
 public:
  explicit RecoveryScan(Nanos since) { out_.since_wall = since; }
  void line(const LogLine& l);
  RecoveryPhases finish();

 private:
  enum class Stage { none, redo, checkpoint, done };
  void begin(std::string kind, const LogLine& l);
  void redo_line(std::string_view m, const LogLine& l);
  void redo_ended(std::string_view m, const LogLine& l);
  void checkpoint_line(std::string_view m, const LogLine& l);

  RecoveryPhases out_;
  Stage stage_ = Stage::none;
  std::optional<Nanos> start_;  // crash recovery: redo starts at; promotion: the request
};

void RecoveryScan::line(const LogLine& l) {
  if (l.wall_ns < out_.since_wall || stage_ == Stage::done) return;
  const std::string_view m = message_of(l.text);
  if (m.empty()) return;
  const bool crash = starts(m, kCrash);
  const bool promote = starts(m, kPromoteRequest) || starts(m, kPromoteTrigger);
  if (promote && stage_ == Stage::redo && out_.kind == "promotion") return;  // asked again: the first request counts
  if (crash || promote) {
    if (stage_ == Stage::checkpoint) {
      out_.notes.push_back(
          fmt::format("checkpoint_s empty: the server began another recovery at {} before a checkpoint completed",
                      format_wall_ns(l.wall_ns)));
      stage_ = Stage::done;
      return;
    }
    if (stage_ == Stage::redo)
      out_.notes.push_back(
          fmt::format("the {} that began with \"{}\" did not end (no redo done line): the next one is measured",
                      out_.kind, out_.evidence.front()));
    begin(crash ? "crash recovery" : "promotion", l);
    return;
  }
  if (stage_ == Stage::redo)
    redo_line(m, l);
  else if (stage_ == Stage::checkpoint)
    checkpoint_line(m, l);
}

void RecoveryScan::begin(std::string kind, const LogLine& l) {
  out_.kind = std::move(kind);
  out_.evidence = {l.text};
  start_.reset();
  if (out_.kind == "promotion") start_ = l.wall_ns;
  stage_ = Stage::redo;
}

void RecoveryScan::redo_line(std::string_view m, const LogLine& l) {
  if (starts(m, kRedoStarts) && out_.kind == "crash recovery" && !start_) {
    start_ = l.wall_ns;
    out_.evidence.push_back(l.text);
  } else if (starts(m, kRedoDone) || starts(m, kRedoNotRequired)) {
    out_.evidence.push_back(l.text);
    redo_ended(m, l);
    stage_ = Stage::checkpoint;
  }
}

void RecoveryScan::redo_ended(std::string_view m, const LogLine& l) {
  if (starts(m, kRedoNotRequired)) {
    out_.redo_s = 0.0;
    out_.notes.push_back("redo_s = 0: redo is not required (no WAL after the last checkpoint)");
  } else if (out_.kind == "promotion") {
    out_.redo_s = seconds_between(*start_, l.wall_ns);
    out_.notes.push_back("redo_s: from the promote request to redo done (timestamps)");
  } else if (const auto elapsed = figure_after(m, "elapsed: ")) {
    out_.redo_s = *elapsed;
    out_.notes.push_back("redo_s: the elapsed figure of the redo done line");
  } else if (start_) {
    out_.redo_s = seconds_between(*start_, l.wall_ns);
    out_.notes.push_back("redo_s: from redo starts to redo done (timestamps; the redo done line has no elapsed)");
  } else {
    out_.notes.push_back("redo_s empty: no \"redo starts at\" line and no elapsed figure in the redo done line");
  }
}

void RecoveryScan::checkpoint_line(std::string_view m, const LogLine& l) {
  if (starts(m, kCheckpointStarting)) {
    std::string_view flags = m.substr(kCheckpointStarting.size());
    while (!flags.empty() && flags.front() == ' ') flags.remove_prefix(1);
    out_.checkpoint_kind = std::string(flags);
    out_.evidence.push_back(l.text);
  } else if (starts(m, kCheckpointComplete)) {
    out_.evidence.push_back(l.text);
    out_.checkpoint_s = figure_after(m, "total=");
    out_.notes.push_back(out_.checkpoint_s ? "checkpoint_s: the total= of the first checkpoint complete after the redo"
                                           : "checkpoint_s empty: its complete line has no total= figure");
    if (out_.checkpoint_kind.empty())
      out_.notes.push_back("the checkpoint's kind is unknown: its \"checkpoint starting\" line was not found");
    stage_ = Stage::done;
  }
}

RecoveryPhases RecoveryScan::finish() {
  if (stage_ == Stage::none)
    out_.notes.push_back(
        "no recovery in the log: no crash recovery (\"database system was not properly shut down\") nor promotion "
        "(\"received promote request\", \"promote trigger file found\") at or after the first fault");
  else if (stage_ == Stage::redo)
    out_.notes.push_back("redo_s and checkpoint_s empty: the redo did not end in the log (no redo done line)");
  else if (stage_ == Stage::checkpoint)
    out_.notes.push_back("checkpoint_s empty: no checkpoint completed after the redo before the log was read");
  return std::move(out_);
}

}  // namespace

RecoveryPhases parse_recovery_log(const std::vector<LogLine>& lines, Nanos since_wall) {
  RecoveryScan scan(since_wall);
  for (const auto& l : lines) scan.line(l);
  return scan.finish();
}

std::string server_log_prelude(const NodeSpec& node) {
  const PostgresSpec& pg = node.postgres;
  if (!pg.log_file.empty()) return fmt::format("log={}; ", sh_quote(pg.log_file));
  std::smatch m;
  static const std::regex kMajor(R"(/postgresql/([0-9]+)/bin/?$)");
  const std::string major = std::regex_search(pg.bin_dir, m, kMajor) ? m[1].str() : std::string();
  return fmt::format(
      "v=$(cat {0}/PG_VERSION 2>/dev/null) || v={1}; log=/var/log/postgresql/postgresql-$v-main.log; "
      "[ -d /var/log/postgresql ] || log={0}/haverify-start.log; ",
      sh_quote(pg.data_dir), sh_quote(major));
}

RecoveryPhases read_recovery_phases(const Inventory& inv, TransportPool& pool, const std::string& node,
                                    Nanos since_wall, std::chrono::milliseconds deadline) {
  RecoveryPhases none;
  none.since_wall = since_wall;
  const NodeSpec* n = inv.node(node);
  if (!n) {
    none.notes.push_back(fmt::format("no node {} in the inventory", node));
    return none;
  }
  static const std::string kPattern =
      "LOG:  (database system was not properly shut down|received promote request|promote trigger file found|"
      "redo (starts|done) at|redo is not required|checkpoint (starting|complete):)";
  const std::string cmd =
      fmt::format("{}if [ ! -r \"$log\" ]; then echo \"cannot read $log\" >&2; exit 3; fi; echo \"$log\" >&2; {}",
                  server_log_prelude(*n), grep_log_command("\"$log\"", kPattern, 5000));
  const ExecResult r = pool.run("ssh", node, cmd, deadline);
  if (!r.ok()) {
    none.notes.push_back(fmt::format("the server log of {} could not be read: {}", node, describe(r)));
    return none;
  }
  RecoveryPhases p = parse_recovery_log(timed_lines_since(r.out, since_wall), since_wall);
  p.log = r.err.substr(0, r.err.find('\n'));
  return p;
}

std::string describe(const RecoveryPhases& p, const std::string& node) {
  const auto fig = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f}", *v) : std::string(); };
  std::string out =
      fmt::format("node: {}\nlog: {}\nsince: {}\nkind: {}\nredo_s: {}\ncheckpoint_s: {}\ncheckpoint: {}\n",
                  node.empty() ? "(none)" : node, p.log.empty() ? "(not read)" : p.log, format_wall_ns(p.since_wall),
                  p.kind.empty() ? "(none found)" : p.kind, fig(p.redo_s), fig(p.checkpoint_s), p.checkpoint_kind);
  out += "notes:\n";
  for (const auto& n : p.notes) out += "  " + n + "\n";
  out += "lines:\n";
  for (const auto& l : p.evidence) out += "  " + l + "\n";
  return out;
}

}  // namespace haverify
