#include "haverify/workload/maintenance.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/cluster/driver.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/op.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/pg.hpp"
#include "workload_common.hpp"

namespace haverify {

using namespace std::chrono_literals;
using workload_detail::outcome_text;
using workload_detail::valid_table_name;

MaintenanceWorkload::MaintenanceWorkload(const Inventory& inv, MaintenanceOptions options, History& history)
    : inv_(inv), options_(std::move(options)), history_(history) {
  for (const auto& op : options_.ops)
    if (!valid_maintenance_op(op)) throw std::invalid_argument(fmt::format("maintenance: unknown op '{}'", op));
  if (!options_.table.empty() && !valid_table_name(options_.table))
    throw std::invalid_argument(fmt::format("maintenance: invalid table name '{}'", options_.table));
  if (!valid_table_name(options_.bulk_table))
    throw std::invalid_argument(fmt::format("maintenance: invalid table name '{}'", options_.bulk_table));
}

MaintenanceWorkload::~MaintenanceWorkload() {
  stop();
}

void MaintenanceWorkload::prepare(const Inventory& inv, const MaintenanceOptions& o,
                                  std::chrono::milliseconds deadline) {
  if (o.bulk_rows <= 0) return;
  std::string err;
  auto conn = pg_connect(endpoint_target(inv), std::min(deadline, std::chrono::milliseconds(10000)), &err);
  if (!conn) throw std::runtime_error(fmt::format("maintenance prepare: connect: {}", err));
  // Built afresh at every run's setup: each repetition starts from the same
  // table (a churned or half-vacuumed copy from the last run would bloat it
  // and fill the disk over a long suite).
  for (const std::string& sql :
       {fmt::format("DROP TABLE IF EXISTS {}", o.bulk_table),
        fmt::format("CREATE TABLE {}(id bigint primary key, pad text not null)", o.bulk_table),
        fmt::format("INSERT INTO {0} SELECT g, repeat('x', 200) FROM generate_series(1, {1}) g", o.bulk_table,
                    o.bulk_rows)}) {
    QueryOutcome q = pg_exec(conn.get(), sql, deadline);
    if (!q.is_ok()) throw std::runtime_error(fmt::format("maintenance prepare: {}: {}", sql, outcome_text(q)));
  }
}

void MaintenanceWorkload::start() {
  stopping_ = false;
  loop_.start(
      1, [this](int) { loop(); }, "maintenance");
}

void MaintenanceWorkload::stop() {
  stopping_ = true;
  loop_.stop();
  std::vector<std::thread> bg;
  {
    std::lock_guard lock(mu_);
    bg.swap(background_);
  }
  for (auto& t : bg)
    if (t.joinable()) t.join();
}

void MaintenanceWorkload::loop() {
  auto next = std::chrono::steady_clock::now();
  while (!loop_.stopping()) {
    for (const auto& op : options_.ops) {
      if (loop_.stopping()) return;
      run_op(op, "", "");
    }
    next += options_.every;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    loop_.backoff(std::chrono::duration_cast<std::chrono::milliseconds>(next - now));
  }
}

bool MaintenanceWorkload::run_once(const std::string& op, const std::string& table, const std::string& from,
                                   bool background) {
  if (!valid_maintenance_op(op)) throw std::invalid_argument(fmt::format("maintenance: unknown op '{}'", op));
  if (!background) return run_op(op, table, from);
  std::lock_guard lock(mu_);
  background_.emplace_back([this, op, table, from] { run_op(op, table, from); });
  return true;
}

namespace {

// The node with `role` per the direct probes (sorted by name), or `who`
// itself if it names a node. Probes again until one answers with the role or
// `deadline` (the op's) passes: a primary busy with its post-promotion
// checkpoint on a slow disk can take seconds to accept a connection.
const NodeSpec* pick_node(const Inventory& inv, const std::string& who, std::chrono::milliseconds deadline,
                          const std::atomic<bool>& stopping, std::string* why) {
  if (const NodeSpec* n = inv.node(who)) return n;
  if (who != "primary" && who != "standby") {
    *why = fmt::format("'{}' is neither a node nor a role (primary, standby)", who);
    return nullptr;
  }
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + deadline;
  std::vector<std::string> names;
  for (int attempt = 1;; ++attempt) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    for (const auto& s : probe_all(inv, std::clamp(left, 1ms, std::chrono::milliseconds(5000))))
      if (to_string(s.role) == who) names.push_back(s.node);
    if (!names.empty()) break;
    if (Clock::now() + 500ms >= end || stopping.load() || !cancel::sleep_for(500ms)) {
      *why = fmt::format("no node answered as {} within {} ms ({} probe round(s))", who, deadline.count(), attempt);
      return nullptr;
    }
  }
  std::sort(names.begin(), names.end());
  return inv.node(names.front());
}

}  // namespace

void MaintenanceWorkload::record(OpType type, const std::string& op, std::string value, std::string target,
                                 std::string error) {
  history_.record(std::string(op::proc::maintenance), type, op, std::move(value), std::move(target), std::move(error));
}

namespace {

// A .pgpass field: ':' and '\' escaped.
std::string pgpass_field(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

BasebackupCommand basebackup_command(const NodeSpec& node, const NodeSpec& primary) {
  const auto& pg = node.postgres;
  const PostgresSpec& from = primary.postgres;
  const std::string bb =
      fmt::format("PGPASSFILE=\"$p\" {}/pg_basebackup -h {} -p {} -U {} -D \"$d\" -X stream -c fast --no-sync -w",
                  sh_quote(pg.bin_dir), sh_quote(from.host), from.port, sh_quote(from.user));
  // stdin -> a 0600 file next to the 0700 directory; as the PostgreSQL OS user
  // when connected as root; `sh -c script "$d" "$p"`: the script reads them
  // as $0 and $1. Both are removed whatever happens.
  BasebackupCommand c;
  c.command = fmt::format(
      "cd / && umask 077 && d=$(mktemp -d /tmp/hv-bb-XXXXXX) || exit 1; p=\"$d.pgpass\"; "
      "trap 'rm -rf \"$d\" \"$p\"' EXIT; cat >\"$p\" || exit 1; "
      "if [ \"$(id -u)\" = 0 ]; then chown {0} \"$d\" \"$p\"; runuser -u {0} -- sh -c {1} \"$d\" \"$p\"; "
      "else sh -c {1} \"$d\" \"$p\"; fi",
      sh_quote(pg.os_user), sh_quote("d=\"$0\"; p=\"$1\"; " + bb));
  if (!from.password.empty())
    c.input = fmt::format("*:*:*:{}:{}\n", pgpass_field(from.user), pgpass_field(from.password));
  return c;
}

// pg_basebackup over SSH on `node` from `primary` into a temporary directory
// that is removed afterwards; "" or why it failed.
std::string MaintenanceWorkload::basebackup(const NodeSpec& node, const NodeSpec& primary) {
  const BasebackupCommand c = basebackup_command(node, primary);
  try {
    SshTransport t(node.ssh);
    ExecResult r = t.exec_with_input(c.command, c.input, options_.deadline);
    if (r.ok()) return {};
    // Best effort: a timed-out backup leaves its directory; remove stale ones of this harness.
    if (r.timed_out) t.exec("rm -rf /tmp/hv-bb-*", 10s);
    return describe(r);
  } catch (const std::exception& e) {
    return e.what();
  }
}

// The SQL of a maintenance op other than basebackup.
std::string MaintenanceWorkload::sql_of(const std::string& op, const std::string& table) const {
  if (op == "checkpoint") return "CHECKPOINT";
  if (op == "analyze") return table.empty() ? "ANALYZE" : "ANALYZE " + table;
  if (op == "vacuum") return table.empty() ? "VACUUM" : "VACUUM " + table;
  // every row of the bulk table rewritten: dead tuples, dirty buffers, WAL
  if (op == "churn") return fmt::format("UPDATE {} SET pad = pad", options_.bulk_table);
  return table.empty() ? "VACUUM FULL" : "VACUUM FULL " + table;
}

MaintenanceWorkload::Attempt MaintenanceWorkload::run_basebackup(const std::string& op, const std::string& from) {
  Attempt a;
  std::string why;
  const NodeSpec* node =
      pick_node(inv_, from.empty() ? options_.basebackup_from : from, options_.deadline, stopping_, &why);
  const NodeSpec* primary = pick_node(inv_, "primary", options_.deadline, stopping_, &why);
  a.what = "pg_basebackup";
  a.target = node ? node->name : from;
  record(OpType::invoke, op, a.what, a.target);
  if (!node || !primary) {
    a.err = why;
    return a;
  }
  a.what = fmt::format("pg_basebackup from {} on {}", primary->name, node->name);
  a.err = basebackup(*node, *primary);
  a.ok = a.err.empty();
  return a;
}

MaintenanceWorkload::Attempt MaintenanceWorkload::run_sql(const std::string& op, const std::string& table) {
  Attempt a;
  if (!table.empty() && !valid_table_name(table)) {  // the scenario reader refuses it first
    a.what = op;
    a.err = fmt::format("invalid table name '{}'", table);
    return a;
  }
  a.what = sql_of(op, table);
  PgTarget t = endpoint_target(inv_);
  std::string why;
  const NodeSpec* primary =
      options_.via == "primary" ? pick_node(inv_, "primary", options_.deadline, stopping_, &why) : nullptr;
  if (primary) t = node_target(*primary);
  t.application_name = "haverify-maintenance";
  a.target = t.describe();
  record(OpType::invoke, op, a.what, a.target);
  if (options_.via == "primary" && !primary) {
    a.err = why;
    return a;
  }
  auto conn = pg_connect(t, std::min(options_.deadline, std::chrono::milliseconds(5000)), &a.err);
  if (!conn) return a;
  QueryOutcome q = pg_exec(conn.get(), a.what, options_.deadline);
  a.ok = q.is_ok();
  if (!a.ok) a.err = outcome_text(q);
  return a;
}

bool MaintenanceWorkload::run_op(const std::string& op, const std::string& table_override, const std::string& from) {
  const std::string table = table_override.empty() ? options_.table : table_override;
  const Nanos t0 = mono_now_ns();
  const Attempt a = op == "basebackup" ? run_basebackup(op, from) : run_sql(op, table);
  const double ms = static_cast<double>(mono_now_ns() - t0) / 1e6;
  (a.ok ? ops_ok_ : ops_failed_).fetch_add(1);
  record(a.ok ? OpType::ok : OpType::fail, op, fmt::format("{}; {:.0f} ms", a.what, ms), a.target,
         a.ok ? std::string() : a.err);
  return a.ok;
}

WorkloadFigures MaintenanceWorkload::figures() const {
  return {{"ops_ok", ops_ok_.load()}, {"ops_failed", ops_failed_.load()}};
}

}  // namespace haverify
