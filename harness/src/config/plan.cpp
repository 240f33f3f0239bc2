#include "haverify/config/plan.hpp"
#include "haverify/core/numbers.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/io/csv.hpp"
#include "haverify/io/csv_read.hpp"

namespace fs = std::filesystem;

namespace haverify {

PlanError::PlanError(std::vector<std::string> problems)
    : UsageError(fmt::format("{}", fmt::join(problems, "\n"))), problems_(std::move(problems)) {}

const std::vector<std::string>& plan_header() {
  static const std::vector<std::string> h = {"id",         "kind",       "fault",  "target_role",   "lan",
                                             "process",    "expected",   "bounds", "scenario_file", "verdict",
                                             "failover_s", "lost_acked", "reason", "run_dir",       "seed"};
  return h;
}

std::vector<std::string> plan_fields(const PlanRow& r) {
  return {r.id,         r.kind,       r.fault,  r.target_role,   r.lan,
          r.process,    r.expected,   r.bounds, r.scenario_file, r.verdict,
          r.failover_s, r.lost_acked, r.reason, r.run_dir,       r.seed};
}

void write_plan_csv(const std::string& path, const std::vector<PlanRow>& rows) {
  // Written next to the target, then renamed: a crash never leaves half a sheet.
  const std::string tmp = path + ".tmp";
  {
    reports::CsvWriter w(tmp, plan_header());
    for (auto r : rows) {
      // One record per line: the reader does not take line breaks in fields.
      std::replace(r.reason.begin(), r.reason.end(), '\n', ' ');
      std::replace(r.reason.begin(), r.reason.end(), '\r', ' ');
      w.row(plan_fields(r));
    }
    w.flush();
  }
  fs::rename(tmp, path);
}

// ---------------------------------------------------------------- bounds

static std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::map<std::string, Bound> parse_bounds(const std::string& text) {
  std::map<std::string, Bound> out;
  if (trim(text) == "none") return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t semi = text.find(';', start);
    const std::string term = trim(text.substr(start, semi == std::string::npos ? std::string::npos : semi - start));
    start = semi == std::string::npos ? text.size() + 1 : semi + 1;
    if (term.empty()) {
      if (semi == std::string::npos && !out.empty()) break;  // a trailing ';'
      throw std::invalid_argument("empty bound (write metric<=x;metric>=y;metric==z, or none)");
    }
    const auto op_at = term.find_first_of("<>=");
    if (op_at == std::string::npos || op_at + 2 > term.size() || term[op_at + 1] != '=')
      throw std::invalid_argument(fmt::format("'{}': expected metric<=x, metric>=x or metric==x", term));
    const std::string metric = trim(term.substr(0, op_at));
    const std::string op = term.substr(op_at, 2);
    const std::string num = trim(term.substr(op_at + 2));
    const auto& known = known_metrics();
    if (std::find(known.begin(), known.end(), metric) == known.end())
      throw std::invalid_argument(
          fmt::format("'{}': unknown metric '{}' (known: {})", term, metric, fmt::join(known, ", ")));
    const auto parsed = parse_finite_number(num);
    if (!parsed) throw std::invalid_argument(fmt::format("'{}': '{}' is not a finite number", term, num));
    const double v = *parsed;
    Bound& b = out[metric];
    if ((op != ">=" && b.max) || (op != "<=" && b.min))
      throw std::invalid_argument(fmt::format("'{}': {} is bounded twice on the same side", term, metric));
    if (op == "<=" || op == "==") b.max = v;
    if (op == ">=" || op == "==") b.min = v;
    if (b.min && b.max && *b.min > *b.max)
      throw std::invalid_argument(fmt::format("'{}': the lower bound of {} is above its upper bound", term, metric));
  }
  return out;
}

std::string format_bounds(const std::map<std::string, Bound>& bounds) {
  std::vector<std::string> terms;
  for (const auto& [m, b] : bounds) {
    if (b.min && b.max && *b.min == *b.max) {
      terms.push_back(m + "==" + format_number(*b.max));
      continue;
    }
    if (b.min) terms.push_back(m + ">=" + format_number(*b.min));
    if (b.max) terms.push_back(m + "<=" + format_number(*b.max));
  }
  return terms.empty() ? "none" : fmt::format("{}", fmt::join(terms, ";"));
}

// ---------------------------------------------------------------- reading a sheet

// The expected column: an outcome (asserted), unknown or empty (nothing asserted).
static std::optional<std::string> expected_problem(const std::string& e) {
  if (e.empty() || e == "unknown" || e == "-" || is_expectation_outcome(e)) return std::nullopt;
  return fmt::format("'{}' is not an outcome ({}; or unknown: nothing asserted){}", e,
                     fmt::join(expectation_outcomes(), ", "),
                     e == "split-brain-risk" ? ": a split-brain risk is not signed off, write the outcome the stack's "
                                               "design promises and the checkers judge it"
                                             : "");
}

// The sheet's expected outcome replaces the scenario's (its bounds stay).
static void apply_expected(const std::string& e, Scenario& sc) {
  if (!is_expectation_outcome(e)) return;
  if (!sc.expect) sc.expect = Expectation{};
  sc.expect->outcome = e;
}

std::vector<PlanRow> read_plan_csv(const std::string& path, std::vector<Scenario>* scenarios,
                                   const std::string& base_dir) {
  reports::CsvTable t;
  try {
    t = reports::read_csv_table(path);
  } catch (const reports::CsvReadError& e) {
    throw PlanError({e.what()});
  }
  std::vector<std::string> problems;
  const auto& want = plan_header();
  for (const auto& c : want)
    if (t.column(c) < 0)
      problems.push_back(fmt::format("{}:1: column {}: missing from the header (plan.csv columns: {})", path, c,
                                     fmt::join(want, ",")));
  for (const auto& c : t.header)
    if (std::find(want.begin(), want.end(), c) == want.end())
      problems.push_back(
          fmt::format("{}:1: column {}: unknown column (plan.csv columns: {})", path, c, fmt::join(want, ",")));
  if (!problems.empty()) throw PlanError(problems);

  static const std::set<std::string> kinds = {"normal", "single-fault", "multi-fault", "long-run", "switchover-timing"};
  const fs::path base = base_dir.empty() ? fs::path(path).parent_path() : fs::path(base_dir);
  std::vector<PlanRow> rows;
  std::map<std::string, unsigned> ids;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto& cells = t.rows[i];
    auto cell = [&](const char* c) { return cells[static_cast<std::size_t>(t.column(c))]; };
    PlanRow r{cell("id"),         cell("kind"),       cell("fault"),  cell("target_role"),   cell("lan"),
              cell("process"),    cell("expected"),   cell("bounds"), cell("scenario_file"), cell("verdict"),
              cell("failover_s"), cell("lost_acked"), cell("reason"), cell("run_dir"),       cell("seed"),
              t.lines[i]};
    const auto bad = [&](const char* column, const std::string& msg) {
      problems.push_back(fmt::format("{}:{}: column {}: {}", path, r.line, column, msg));
    };
    if (!valid_name(r.id, kPlanIdMaxLen))
      bad("id", fmt::format("'{}' is not an id (at most {} characters; {})", r.id, kPlanIdMaxLen, kNameRule));
    if (auto [it, fresh] = ids.emplace(r.id, r.line); !fresh && !r.id.empty())
      bad("id", fmt::format("duplicate id '{}' (first on line {})", r.id, it->second));
    if (!kinds.count(r.kind))
      bad("kind",
          fmt::format("unknown kind '{}' (single-fault, multi-fault, normal, long-run, switchover-timing)", r.kind));
    if (auto why = expected_problem(r.expected)) bad("expected", *why);
    std::optional<std::map<std::string, Bound>> bounds;
    if (!trim(r.bounds).empty()) {
      try {
        bounds = parse_bounds(r.bounds);
      } catch (const std::invalid_argument& e) {
        bad("bounds", e.what());
      }
    }
    if (r.scenario_file.empty()) {
      bad("scenario_file", "empty (the scenario .yaml to run, relative to the sheet's folder)");
    } else {
      const fs::path file =
          fs::path(r.scenario_file).is_absolute() ? fs::path(r.scenario_file) : base / r.scenario_file;
      if (!fs::is_regular_file(file)) {
        bad("scenario_file", fmt::format("no such file {}", file.string()));
      } else {
        try {
          Scenario sc = load_scenario(file.string());
          sc.name = r.id;  // rows sharing a scenario file stay apart in the results
          if (kinds.count(r.kind)) sc.kind = r.kind;
          if (bounds) sc.checks = *bounds;  // the sheet's bounds replace the scenario's checks
          apply_expected(r.expected, sc);
          if (scenarios) scenarios->push_back(std::move(sc));
        } catch (const ConfigError& e) {
          for (const auto& issue : e.issues()) bad("scenario_file", issue.str());
        }
      }
    }
    rows.push_back(std::move(r));
  }
  if (!problems.empty()) throw PlanError(problems);
  return rows;
}

}  // namespace haverify
