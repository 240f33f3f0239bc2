#include "haverify/cluster/driver.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/shell.hpp"

namespace haverify {

const char* to_string(Role r) {
  switch (r) {
    case Role::primary:
      return "primary";
    case Role::standby:
      return "standby";
    case Role::down:
      return "down";
    case Role::unknown:
      return "unknown";
  }
  return "?";
}

PgTarget node_target(const NodeSpec& node) {
  PgTarget t;
  t.host = node.postgres.host;
  t.port = std::to_string(node.postgres.port);
  t.user = node.postgres.user;
  t.dbname = node.postgres.database;
  t.password = node.postgres.password;
  t.application_name = "haverify-probe";
  return t;
}

PgTarget endpoint_target(const Inventory& inv) {
  PgTarget t;
  t.host = inv.endpoint.host;
  t.port = inv.endpoint.port;
  t.user = inv.endpoint.user;
  t.dbname = inv.endpoint.database;
  t.password = inv.endpoint.password;
  if (inv.endpoint.kind == "hostlist") t.extra = "target_session_attrs=read-write";
  return t;
}

static std::string strip_prefix(const std::string& cidr) {
  return cidr.substr(0, cidr.find('/'));
}

// The node-state sample (kNodeStateSql) through SSH and psql on the node: one row "t|3|0/3000148|off".
static std::vector<std::vector<std::string>> sample_over_ssh(SshTransport& ssh, const NodeSpec& node,
                                                             std::chrono::milliseconds deadline, std::string* err) {
  const std::string cmd = fmt::format("runuser -u {} -- {}/psql -XAtq -p {} -d {} -c {}",
                                      sh_quote(node.postgres.os_user), sh_quote(node.postgres.bin_dir),
                                      node.postgres.port, sh_quote(node.postgres.database), sh_quote(kNodeStateSql));
  ExecResult r = ssh.exec(cmd, deadline);
  if (!r.ok()) {
    *err = r.error.empty() ? (r.timed_out ? "ssh probe timed out" : r.err) : r.error;
    return {};
  }
  std::vector<std::string> fields;
  std::string line = r.out.substr(0, r.out.find('\n'));
  for (std::size_t pos = 0;;) {
    auto bar = line.find('|', pos);
    fields.push_back(line.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
    if (bar == std::string::npos) break;
    pos = bar + 1;
  }
  return {fields};
}

NodeStatus probe_node(const NodeSpec& node, std::chrono::milliseconds deadline) {
  NodeStatus s;
  s.node = node.name;
  if (node.postgres.probe == "ssh") {
    std::string err;
    SshTransport ssh(node.ssh);
    auto rows = sample_over_ssh(ssh, node, deadline, &err);
    if (rows.empty() || rows[0].size() != 4) {
      s.role = Role::down;
      s.detail = err;
    } else {
      s.role = rows[0][0] == "t" ? Role::standby : Role::primary;
    }
    return s;
  }
  std::string err;
  const auto start = std::chrono::steady_clock::now();
  auto conn = pg_connect(node_target(node), deadline, &err, static_cast<int>(deadline.count()));
  if (!conn) {
    s.role = Role::down;
    s.detail = err;
    return s;
  }
  auto left =
      deadline - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (left.count() < 50) left = std::chrono::milliseconds(50);
  auto v = pg_query_scalar(conn.get(), "SELECT pg_is_in_recovery()", left, &err);
  if (!v) {
    s.role = Role::down;
    s.detail = err;
    return s;
  }
  s.role = (*v == "f") ? Role::primary : Role::standby;
  return s;
}

std::vector<NodeStatus> probe_all(const Inventory& inv, std::chrono::milliseconds deadline) {
  std::vector<NodeStatus> out(inv.nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i)
    threads.emplace_back([&, i] { out[i] = probe_node(inv.nodes[i], deadline); });
  for (auto& t : threads) t.join();
  return out;
}

std::string current_primary(const Inventory& inv, ClusterDriver& driver) {
  std::set<std::string> answering;
  for (const auto& p : probe_all(inv, std::chrono::milliseconds(1000)))
    if (p.role == Role::primary) answering.insert(p.node);
  for (const auto& s : driver.roles(std::chrono::milliseconds(2000)))
    if (s.role == Role::primary && s.attached && answering.count(s.node)) return s.node;
  return answering.size() == 1 ? *answering.begin() : std::string();
}

std::map<std::string, ReplicationState> replication_states(const Inventory& inv, PGconn* primary,
                                                           std::chrono::milliseconds deadline, std::string* error) {
  std::map<std::string, ReplicationState> out;
  std::string err;
  const auto rows = pg_query_rows(
      primary, "SELECT application_name, coalesce(host(client_addr), ''), state, sync_state FROM pg_stat_replication",
      deadline, &err);
  if (!err.empty()) {
    if (error) *error = err;
    return out;
  }
  for (const auto& n : inv.nodes)
    for (const auto& r : rows) {
      if (r.size() < 4) continue;
      bool match = r[0] == n.name || r[1] == n.postgres.host;
      for (const auto& i : n.interfaces)
        if (r[1] == strip_prefix(i.address)) match = true;
      if (!match) continue;
      ReplicationState& st = out[n.name];
      if (st.state.empty() || r[2] == "streaming") st = ReplicationState{r[2], r[3]};
    }
  return out;
}

// The last few hundred characters of a command's output, for messages.
static std::string output_tail(const ExecResult& r) {
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) return {};
  if (out.size() > 400) out = "..." + out.substr(out.size() - 400);
  return ": " + out;
}

void ClusterDriver::switchover(const std::string& target, std::chrono::milliseconds) {
  throw std::runtime_error(fmt::format("the {} driver cannot switch over (to {})", name(), target));
}

std::vector<DetectEvent> ClusterDriver::detect_events(Nanos, std::chrono::milliseconds) {
  return {};
}

std::vector<DetectEvent> NodeDriverBase::detect_events(Nanos since_wall, std::chrono::milliseconds deadline) {
  return detect_from_logs(inv_, pool_, inv_.driver.detect_log, inv_.driver.detect_pattern, since_wall, deadline);
}

std::string NodeDriverBase::switchover_source(const std::string& target, time_point until) {
  if (!inv_.node(target)) throw std::runtime_error(fmt::format("switchover: unknown node {}", target));
  std::string current;
  for (const auto& s : roles(time_left(until)))
    if (s.role == Role::primary) current = s.node;
  if (current.empty()) throw std::runtime_error(fmt::format("switchover: {} reports no primary", name()));
  return current;
}

bool NodeDriverBase::await_serving(const std::string& target, time_point until, std::string* why) {
  while (std::chrono::steady_clock::now() < until) {
    bool promoted = false;
    for (const auto& s : roles(time_left(until)))
      if (s.node == target && s.role == Role::primary) promoted = true;
    if (!promoted) {
      *why = fmt::format("{} has not promoted {} yet", name(), target);
    } else if (auto st = probe_node(*inv_.node(target), std::chrono::milliseconds(1000)); st.role != Role::primary) {
      *why = fmt::format("{} is promoted but answers {}", target, to_string(st.role));
    } else if (endpoint_is_primary(inv_, std::chrono::milliseconds(1000), why)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string NodeDriverBase::await_new_primary(const std::string& except, time_point until, const std::string& what) {
  std::string why = fmt::format("{} names no primary other than {}", name(), except);
  while (std::chrono::steady_clock::now() < until) {
    std::string candidate;
    for (const auto& s : roles(time_left(until)))
      if (s.role == Role::primary && s.attached && s.node != except) candidate = s.node;
    // A short horizon: the manager may still change its mind.
    const auto horizon = std::min(until, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    if (!candidate.empty() && await_serving(candidate, horizon, &why)) return candidate;
    if (candidate.empty()) why = fmt::format("{} names no primary other than {}", name(), except);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  throw std::runtime_error(fmt::format("{}: no other node serves in time: {}", what, why));
}

std::string NodeDriverBase::require_primary(const std::string& what) {
  std::string p = current_primary(inv_, *this);
  if (p.empty())
    throw std::runtime_error(
        fmt::format("{}: {} names no primary that answers as one (is the cluster healthy?)", what, name()));
  return p;
}

void NodeDriverBase::require_standby(const std::string& node, time_point until, const std::string& what) {
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node {}", what, node));
  for (const auto& s : roles(time_left(until)))
    if (s.node == node && s.role == Role::primary)
      throw std::runtime_error(fmt::format("{}: {} is the primary; switch over to another node first", what, node));
}

// Why `node` is not a healthy standby now ("" if it is), given the manager's
// view and the primary it names.
std::string NodeDriverBase::standby_problem(const std::string& node, const std::vector<NodeStatus>& view,
                                            const std::string& primary) {
  const NodeStatus* mine = nullptr;
  for (const auto& s : view)
    if (s.node == node) mine = &s;
  if (!mine) return fmt::format("{} does not list {}", name(), node);
  if (!mine->attached || mine->role != Role::standby)
    return fmt::format("{} says {} is {} ({})", name(), node, to_string(mine->role), mine->detail);
  if (!replicated()) return {};  // shared disk: online and passive is all a standby is
  if (primary.empty()) return fmt::format("{} names no primary", name());
  const auto st = probe_node(*inv_.node(node), std::chrono::milliseconds(1000));
  if (st.role != Role::standby) return fmt::format("{} answers {} {}", node, to_string(st.role), st.detail);
  std::string err;
  auto conn = pg_connect(node_target(*inv_.node(primary)), std::chrono::milliseconds(1000), &err);
  if (!conn) return fmt::format("the primary {} does not answer: {}", primary, err);
  const auto states = replication_states(inv_, conn.get(), std::chrono::milliseconds(1000), &err);
  const auto it = states.find(node);
  if (it == states.end() || it->second.state != "streaming")
    return fmt::format("{} is not streaming from {} ({})", node, primary,
                       it != states.end() ? it->second.state
                       : err.empty()      ? std::string("not in pg_stat_replication")
                                          : err);
  return {};
}

void NodeDriverBase::await_standby(const std::string& node, time_point until, const std::string& what) {
  for (;;) {
    std::string primary;
    const auto view = roles(time_left(until));
    for (const auto& s : view)
      if (s.role == Role::primary) primary = s.node;
    const std::string why = standby_problem(node, view, primary);
    if (why.empty()) return;
    if (std::chrono::steady_clock::now() >= until)
      throw std::runtime_error(fmt::format("{}: {} is not a healthy standby in time: {}", what, node, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

std::string NodeDriverBase::await_cluster_healthy(time_point until, const std::string& what) {
  for (;;) {
    std::string why;
    const std::string primary = current_primary(inv_, *this);
    if (primary.empty()) {
      why = fmt::format("{} names no primary that answers as one", name());
    } else if (endpoint_is_primary(inv_, std::chrono::milliseconds(1000), &why)) {
      const auto view = roles(time_left(until));
      for (const auto& n : inv_.nodes)
        if (n.name != primary && why.empty()) why = standby_problem(n.name, view, primary);
      if (why.empty()) return primary;
    }
    if (std::chrono::steady_clock::now() >= until)
      throw std::runtime_error(fmt::format("{}: the cluster is not healthy in time: {}", what, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Waits until `node`'s PostgreSQL no longer answers (replicated) and, with
// `ask_manager`, the manager counts it out.
void NodeDriverBase::await_stopped(const std::string& node, time_point until, bool ask_manager,
                                   const std::string& what) {
  for (;;) {
    std::string why;
    if (replicated()) {
      const auto st = probe_node(*inv_.node(node), std::chrono::milliseconds(1000));
      if (st.role != Role::down) why = fmt::format("{} still answers as {}", node, to_string(st.role));
    }
    if (why.empty() && ask_manager)
      for (const auto& s : roles(time_left(until)))
        if (s.node == node && s.attached && s.role != Role::down)
          why = fmt::format("{} still counts {} in ({})", name(), node, s.detail);
    if (why.empty()) return;
    if (std::chrono::steady_clock::now() >= until)
      throw std::runtime_error(fmt::format("{}: {} not stopped in time: {}", what, node, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

ExecResult NodeDriverBase::run_service_command(const std::string& node, const std::string& command, time_point until,
                                               const std::string& what) {
  if (command.empty())
    throw std::runtime_error(
        fmt::format("{} of {}: the command is not set in the inventory {} (driver.*_command)", what, node, inv_.file));
  ExecResult r = pool_.run("ssh", node, command + " 2>&1", time_left(until));
  if (!r.ok())
    throw std::runtime_error(
        fmt::format("{} of {}: `{}` failed: {}{}", what, node, command, describe(r), output_tail(r)));
  return r;
}

void NodeDriverBase::stop_services(const std::string& node, time_point until) {
  run_service_command(node, inv_.driver.stop_command, until, "stop (driver.stop_command)");
}

void NodeDriverBase::start_node(const std::string& node, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "start of " + node;
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node", what));
  rejoin(node, require_primary(what), time_left(until));
  await_standby(node, until, what);
}

void NodeDriverBase::stop_node(const std::string& node, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "stop of " + node;
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node", what));
  bool was_primary = false;
  for (const auto& s : roles(time_left(until)))
    if (s.node == node && s.role == Role::primary) was_primary = true;
  stop_services(node, until);
  await_stopped(node, until, /*ask_manager=*/true, what);
  if (was_primary && promotes()) await_new_primary(node, until, what);
}

std::string NodeDriverBase::stop_cluster(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "stop of the cluster";
  const std::string primary = require_primary(what);
  std::vector<std::string> order;
  for (const auto& n : inv_.nodes)
    if (n.name != primary) order.push_back(n.name);
  order.push_back(primary);
  // One at a time: each stop returns once the node's services are down, so
  // the primary goes last and sees every standby leave cleanly.
  for (const auto& n : order) {
    stop_services(n, until);
    // The manager itself may be gone with the last nodes: only PostgreSQL is asked.
    await_stopped(n, until, /*ask_manager=*/false, what);
  }
  last_primary_ = primary;
  return primary;
}

std::string NodeDriverBase::start_cluster(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<std::string> order;
  if (!last_primary_.empty()) order.push_back(last_primary_);
  for (const auto& n : inv_.nodes)
    if (n.name != last_primary_) order.push_back(n.name);
  const std::string& cmd = inv_.driver.start_command;
  if (cmd.empty()) throw std::runtime_error("start of the cluster: driver.start_command is not set in " + inv_.file);
  const auto results = run_on_nodes_parallel(pool_, order, cmd + " 2>&1", time_left(until));
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < order.size(); ++i)
    if (!results[i].ok())
      failed.push_back(fmt::format("{}: {}{}", order[i], describe(results[i]), output_tail(results[i])));
  if (!failed.empty())
    throw std::runtime_error(fmt::format("start of the cluster: `{}` failed on {}", cmd, fmt::join(failed, "; ")));
  return await_cluster_healthy(until, "start of the cluster");
}

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point until) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()));
}

std::optional<Nanos> parse_log_time(const std::string& line, Nanos reference_wall) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0, consumed = 0;
  const char* p = line.c_str();
  if (std::sscanf(p, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &year, &mon, &day, &hh, &mm, &ss, &consumed) == 6) {
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
  } else {
    char mname[4] = {};
    if (std::sscanf(p, "%3s %d %2d:%2d:%2d%n", mname, &day, &hh, &mm, &ss, &consumed) != 5) return std::nullopt;
    int m = -1;
    for (int i = 0; i < 12; ++i)
      if (std::string_view(mname) == kMonths[i]) m = i;
    if (m < 0) return std::nullopt;
    const std::time_t ref = static_cast<std::time_t>(reference_wall / 1'000'000'000);
    std::tm rt{};
    localtime_r(&ref, &rt);
    tm.tm_year = rt.tm_year;
    tm.tm_mon = m;
    // A December line read in January belongs to the previous year.
    if (m > rt.tm_mon + 1) tm.tm_year -= 1;
  }
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  Nanos frac = 0;
  const char* q = p + consumed;
  if (*q == '.' || *q == ',') {
    Nanos scale = 100'000'000;
    for (++q; std::isdigit(static_cast<unsigned char>(*q)) && scale > 0; ++q, scale /= 10) frac += (*q - '0') * scale;
  }
  return static_cast<Nanos>(t) * 1'000'000'000 + frac;
}

bool endpoint_is_primary(const Inventory& inv, std::chrono::milliseconds deadline, std::string* why) {
  std::string err;
  auto conn = pg_connect(endpoint_target(inv), deadline, &err);
  if (!conn) {
    if (why) *why = "the endpoint does not answer: " + err;
    return false;
  }
  auto rows =
      pg_query_rows(conn.get(), "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')", deadline, &err);
  if (rows.size() == 1 && rows[0].size() == 2 && rows[0][0] == "f" && rows[0][1] == "off") return true;
  if (why) *why = err.empty() ? "the endpoint answers but is not a writable primary" : err;
  return false;
}

ExecResult run_on_first_node(const Inventory& inv, TransportPool& pool, const std::string& command,
                             std::chrono::milliseconds deadline, std::string* errors) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  ExecResult last;
  for (const auto& n : inv.nodes) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    last = pool.run("ssh", n.name, command, left);
    if (last.ok()) return last;
    if (errors)
      *errors += fmt::format("{}{}: {}", errors->empty() ? "" : "; ", n.name,
                             !last.error.empty() ? last.error
                             : last.timed_out    ? std::string("timed out")
                                                 : fmt::format("exit {} {}", last.exit_code, last.err));
  }
  return last;
}

void run_script_over_ssh(TransportPool& pool, const std::string& node, const std::string& script_path,
                         const std::vector<std::string>& args, std::chrono::milliseconds deadline,
                         const std::string& what, const std::map<std::string, std::string>& env) {
  std::ifstream in(script_path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the script {}", what, script_path));
  std::stringstream body;
  body << in.rdbuf();
  std::string quoted, vars;
  for (const auto& a : args) quoted += " " + sh_quote(a);
  for (const auto& [k, v] : env) vars += fmt::format("{}={} ", k, sh_quote(v));
  const std::string cmd =
      fmt::format("{}bash -s --{} <<'HAVERIFY_SCRIPT_EOF'\n{}\nHAVERIFY_SCRIPT_EOF", vars, quoted, body.str());
  ExecResult r = pool.run("ssh", node, cmd, deadline);
  if (!r.ok())
    throw std::runtime_error(fmt::format("{} failed on {} ({}{}exit {}): {}{}", what, node, r.error,
                                         r.timed_out ? " timed out, " : " ", r.exit_code, r.err, r.out));
}

std::vector<ExecResult> run_on_nodes_parallel(TransportPool& pool, const std::vector<std::string>& nodes,
                                              const std::string& command, std::chrono::milliseconds deadline) {
  std::vector<ExecResult> out(nodes.size());
  // The pool is not thread-safe: every session is looked up (created) here,
  // then each thread uses its own.
  std::vector<Transport*> transports(nodes.size(), nullptr);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    try {
      transports[i] = &pool.node(nodes[i]);
    } catch (const std::exception& e) {
      out[i].error = e.what();
    }
  }
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (transports[i])
        threads.emplace_back([&, i] {
          try {
            out[i] = transports[i]->exec(command, deadline);
          } catch (const std::exception& e) {
            out[i].error = e.what();
          }
        });
  }
  return out;
}

std::vector<DetectEvent> detect_from_logs(const Inventory& inv, TransportPool& pool, const std::string& log,
                                          const std::string& pattern, Nanos since_wall,
                                          std::chrono::milliseconds deadline) {
  std::vector<DetectEvent> out;
  if (log.empty() || pattern.empty()) return out;
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string cmd = fmt::format("grep -E -- {} {} | tail -n 500", sh_quote(pattern), sh_quote(log));
  for (const auto& n : inv.nodes) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ExecResult r = pool.run("ssh", n.name, cmd, left);
    if (!r.ok()) continue;  // powered off, or nothing matched
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto t = parse_log_time(line, since_wall);
      if (t && *t >= since_wall) out.push_back(DetectEvent{*t, n.name, line});
    }
  }
  std::sort(out.begin(), out.end(), [](const DetectEvent& a, const DetectEvent& b) { return a.wall_ns < b.wall_ns; });
  return out;
}

namespace {

// A shell prelude defining run(): the command as postgres.os_user (through
// runuser when the SSH user is someone else, e.g. root).
std::string as_os_user_prelude(const NodeSpec& n) {
  return fmt::format(
      "u={}; run() {{ if [ \"$(id -un)\" = \"$u\" ]; then \"$@\"; else runuser -u \"$u\" -- \"$@\"; fi; }}; ",
      sh_quote(n.postgres.os_user));
}

// Whole seconds left until `until` (at least 1), for the node-side tools' own timeouts.
long long seconds_left(std::chrono::steady_clock::time_point until) {
  return std::max<long long>(1, time_left(until).count() / 1000);
}

// The pg_ctl drivers: a planned stop is `pg_ctl stop -m fast` and a start
// makes the node a standby of the primary again with lab/scripts/pg-rejoin.sh
// (pg_rewind, which is a no-op for a cleanly stopped standby on the primary's
// timeline, else a fresh base backup; then standby.signal, primary_conninfo
// pointing at the primary of now, start, wait for streaming). A plain
// `pg_ctl start` would follow whatever primary the node had before, which a
// switchover in between may have changed.
class GenericDriver : public NodeDriverBase {
 public:
  using NodeDriverBase::NodeDriverBase;
  std::string name() const override { return "generic"; }
  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override { return probe_all(inv_, deadline); }
  std::string status_text(std::chrono::milliseconds deadline) override {
    std::string out;
    for (const auto& s : roles(deadline)) out += fmt::format("{} {} {}\n", s.node, to_string(s.role), s.detail);
    return out;
  }
  void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    run_pg_rejoin(node, primary, "rewind", until);
    attach(node, until);
  }
  void rebuild(const std::string& node, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string what = "rebuild of " + node;
    require_standby(node, until, what);
    const std::string primary = require_primary(what);
    stop_services(node, until);
    run_pg_rejoin(node, primary, "basebackup", until);
    attach(node, until);
    await_standby(node, until, what);
  }
  // The last primary first (pg_ctl start; it serves alone), then every other
  // node as its standby.
  std::string start_cluster(std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string what = "start of the cluster";
    const std::string primary = last_primary_.empty() ? stopped_primary(until) : last_primary_;
    pg_ctl_start(primary, until);
    attach(primary, until);
    std::string why;
    if (!await_serving(primary, until, &why))
      throw std::runtime_error(fmt::format("{}: the last primary {} does not serve in time: {}", what, primary, why));
    for (const auto& n : inv_.nodes)
      if (n.name != primary) rejoin(n.name, primary, time_left(until));
    return await_cluster_healthy(until, what);
  }

 protected:
  bool promotes() const override { return false; }
  // pgpool: give the node back to pgpool (no-op here).
  virtual void attach(const std::string&, time_point) {}

  void stop_services(const std::string& node, time_point until) override {
    const NodeSpec& n = *inv_.node(node);
    const std::string ctl =
        fmt::format("run {}/pg_ctl -D {}", sh_quote(n.postgres.bin_dir), sh_quote(n.postgres.data_dir));
    const std::string cmd =
        fmt::format("{}if {} status >/dev/null 2>&1; then {} stop -m fast -w -t {}; else echo 'not running'; fi",
                    as_os_user_prelude(n), ctl, ctl, seconds_left(until));
    run_service_command(node, cmd, until, "stop (pg_ctl)");
  }

  void pg_ctl_start(const std::string& node, time_point until) {
    const NodeSpec& n = *inv_.node(node);
    const std::string data = sh_quote(n.postgres.data_dir);
    const std::string ctl = fmt::format("run {}/pg_ctl -D {}", sh_quote(n.postgres.bin_dir), data);
    // The server log: postgres.log_file, else where Debian's packages keep it
    // if that directory exists (as pg-rejoin.sh does), else in the data directory.
    const std::string log = n.postgres.log_file.empty()
                                ? fmt::format(
                                      "log=/var/log/postgresql/postgresql-$(cat {0}/PG_VERSION)-main.log; "
                                      "[ -d /var/log/postgresql ] || log={0}/haverify-start.log; ",
                                      data)
                                : fmt::format("log={}; ", sh_quote(n.postgres.log_file));
    const std::string cmd = fmt::format(
        "{0}if {1} status >/dev/null 2>&1; then echo 'already running'; else {2}{1} -l \"$log\" -w -t {3} "
        "start; fi",
        as_os_user_prelude(n), ctl, log, seconds_left(until));
    run_service_command(node, cmd, until, "start (pg_ctl)");
  }

  // After a whole-cluster stop in another process: the one node whose data
  // directory has no standby.signal was the primary.
  std::string stopped_primary(time_point until) {
    std::vector<std::string> names, primaries;
    for (const auto& n : inv_.nodes) names.push_back(n.name);
    std::vector<ExecResult> results(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const NodeSpec& n = inv_.nodes[i];
      const std::string data = sh_quote(n.postgres.data_dir);
      results[i] = pool_.run("ssh", n.name,
                             fmt::format("{}if run test -e {}/standby.signal; then echo standby; "
                                         "elif run test -f {}/PG_VERSION; then echo primary; else echo empty; fi",
                                         as_os_user_prelude(n), data, data),
                             time_left(until));
      if (results[i].ok() && results[i].out.rfind("primary", 0) == 0) primaries.push_back(n.name);
    }
    if (primaries.size() != 1)
      throw std::runtime_error(fmt::format(
          "start of the cluster: cannot tell which node was the primary: {} data directories without "
          "standby.signal ({}); start the primary with pg_ctl by hand, then `haverify cluster start-node` the others",
          primaries.size(), fmt::join(primaries, ", ")));
    return primaries.front();
  }

  // lab/scripts/pg-rejoin.sh on `node`: a standby of `primary` (over its
  // replication address), by pg_rewind with a base-backup fallback (mode
  // rewind) or by a fresh base backup (mode basebackup).
  void run_pg_rejoin(const std::string& node, const std::string& primary, const std::string& mode, time_point until) {
    const NodeSpec* n = inv_.node(node);
    const NodeSpec* p = inv_.node(primary);
    if (!n || !p) throw std::runtime_error(fmt::format("rejoin: unknown node {} or {}", node, primary));
    const InterfaceSpec* repl = p->interface_on("replication");
    const std::string phost = repl ? strip_prefix(repl->address) : p->postgres.host;
    std::map<std::string, std::string> env = {{"PG_REJOIN_MODE", mode}};
    if (!n->postgres.log_file.empty()) env["PG_REJOIN_LOGFILE"] = n->postgres.log_file;
    run_script_over_ssh(
        pool_, node, std::string(HAVERIFY_SOURCE_DIR) + "/lab/scripts/pg-rejoin.sh",
        {n->postgres.data_dir, n->postgres.bin_dir, phost, std::to_string(p->postgres.port), n->name,
         n->postgres.os_user, n->postgres.user, std::to_string(seconds_left(until))},
        time_left(until),
        fmt::format("{} of {} as a standby of {}", mode == "basebackup" ? "rebuild" : "rejoin", node, primary), env);
  }
};

// pgpool-II: roles from SHOW pool_nodes through the endpoint; detach, attach
// and switchover with pcp.
class PgpoolDriver : public GenericDriver {
 public:
  using GenericDriver::GenericDriver;
  std::string name() const override { return "pgpool"; }

  struct PoolNode {
    int id = -1;
    std::string host, port, status, role, pg_role;
  };

  std::vector<PoolNode> pool_nodes(std::chrono::milliseconds deadline, std::string* error) {
    std::vector<PoolNode> out;
    auto conn = pg_connect(endpoint_target(inv_), deadline, error);
    if (!conn) return out;
    auto res = pg_exec(conn.get(), "SHOW pool_nodes", deadline);
    if (res.kind != QueryOutcome::ok || !res.result) {
      if (error) *error = res.error;
      return out;
    }
    PGresult* r = res.result.get();
    auto col = [&](const char* name) { return PQfnumber(r, name); };
    const int c_id = col("node_id"), c_host = col("hostname"), c_port = col("port"), c_status = col("status"),
              c_role = col("role"), c_pgrole = col("pg_role");
    if (c_id < 0 || c_host < 0 || c_status < 0 || c_role < 0) {
      if (error) *error = "SHOW pool_nodes lacks node_id/hostname/status/role (unsupported pgpool version?)";
      return out;
    }
    for (int i = 0; i < PQntuples(r); ++i) {
      PoolNode n;
      n.id = std::atoi(PQgetvalue(r, i, c_id));
      n.host = PQgetvalue(r, i, c_host);
      if (c_port >= 0) n.port = PQgetvalue(r, i, c_port);
      n.status = PQgetvalue(r, i, c_status);
      n.role = PQgetvalue(r, i, c_role);
      if (c_pgrole >= 0) n.pg_role = PQgetvalue(r, i, c_pgrole);
      out.push_back(n);
    }
    return out;
  }

  // The inventory node of a pgpool backend: one of its addresses and, when
  // pgpool reports it, its PostgreSQL port (several servers may share a host).
  const NodeSpec* node_for(const PoolNode& pn) const {
    for (const auto& n : inv_.nodes) {
      if (!pn.port.empty() && pn.port != std::to_string(n.postgres.port)) continue;
      if (n.postgres.host == pn.host || n.ssh.host == pn.host) return &n;
      for (const auto& i : n.interfaces)
        if (strip_prefix(i.address) == pn.host) return &n;
    }
    return nullptr;
  }

  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override {
    std::string err;
    auto nodes = pool_nodes(deadline, &err);
    std::vector<NodeStatus> out;
    if (nodes.empty()) {
      for (const auto& n : inv_.nodes) out.push_back(NodeStatus{n.name, Role::unknown, false, "pgpool: " + err});
      return out;
    }
    for (const auto& pn : nodes) {
      const NodeSpec* ns = node_for(pn);
      NodeStatus s;
      s.node = ns ? ns->name : pn.host;
      s.attached = is_attached(pn);
      if (!s.attached)
        s.role = Role::down;
      else if (pn.role == "primary")
        s.role = Role::primary;
      else if (pn.role == "standby")
        s.role = Role::standby;
      s.detail = fmt::format("pgpool node {} status={} role={} pg_role={}", pn.id, pn.status, pn.role, pn.pg_role);
      out.push_back(s);
    }
    return out;
  }

  std::string status_text(std::chrono::milliseconds deadline) override {
    std::string err;
    auto conn = pg_connect(endpoint_target(inv_), deadline, &err);
    if (!conn) return "pgpool endpoint unreachable: " + err + "\n";
    auto res = pg_exec(conn.get(), "SHOW pool_nodes", deadline);
    if (res.kind != QueryOutcome::ok || !res.result) return "SHOW pool_nodes failed: " + res.error + "\n";
    PGresult* r = res.result.get();
    std::string out;
    for (int c = 0; c < PQnfields(r); ++c) out += fmt::format("{}{}", c ? " | " : "", PQfname(r, c));
    out += "\n";
    for (int i = 0; i < PQntuples(r); ++i) {
      for (int c = 0; c < PQnfields(r); ++c) out += fmt::format("{}{}", c ? " | " : "", PQgetvalue(r, i, c));
      out += "\n";
    }
    return out;
  }

  // pcp_promote_node --switchover (pgpool-II 4.3): pgpool detaches the
  // current primary and runs failover_command with the target as the new
  // main node (%m); the failover script promotes it, follow_primary_command
  // re-points the other standbys. The old primary is left for rejoin() (the
  // lab's failover.sh stops it before promoting the target).
  void switchover(const std::string& target, std::chrono::milliseconds deadline) override {
    const auto until = std::chrono::steady_clock::now() + deadline;
    const std::string current = switchover_source(target, until);
    if (current == target) return;
    pcp("pcp_promote_node", "-s", target, until);
    std::string why;
    if (!await_serving(target, until, &why))
      throw std::runtime_error(fmt::format("switchover to {} not done in time: {}", target, why));
  }

 protected:
  bool promotes() const override { return true; }

  static bool is_attached(const PoolNode& pn) { return pn.status == "up" || pn.status == "waiting"; }

  // Runs a pcp tool on the harness host (PCPPASSFILE, -w); throws saying
  // `what` on failure.
  ExecResult pcp_run(const std::string& tool, const std::string& options, time_point until, const std::string& what) {
    const auto& d = inv_.driver;
    const std::string cmd = fmt::format("PCPPASSFILE={} {} -h {} -p {} -U {} -w {}", sh_quote(d.pcp_passfile), tool,
                                        sh_quote(d.pcp_host), d.pcp_port, sh_quote(d.pcp_user), options);
    ExecResult r = pool_.local().exec(cmd, time_left(until));
    // The read-only tools are retried until `until`: pgpool's pcp process
    // drops connections while a failover restarts its children ("unable to
    // read data from socket"). Tools that change state run once.
    const bool read_only = tool == "pcp_node_count" || tool == "pcp_node_info";
    while (!r.ok() && read_only && std::chrono::steady_clock::now() + std::chrono::milliseconds(250) < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      r = pool_.local().exec(cmd, time_left(until));
    }
    if (!r.ok())
      throw std::runtime_error(
          fmt::format("{} {} ({}) failed: {}{}", tool, options, what, describe(r), output_tail(r)));
    return r;
  }

  // `node`'s backend as pcp sees it (pcp_node_count, pcp_node_info -v): pcp
  // answers even when every backend is down and pgpool refuses SQL
  // connections (SHOW pool_nodes), as after a whole-cluster stop. Throws if
  // pgpool does not list it.
  PoolNode pool_node(const std::string& node, time_point until) {
    const int count = std::atoi(pcp_run("pcp_node_count", "", until, "the pgpool backends").out.c_str());
    std::string seen;
    for (int id = 0; id < count; ++id) {
      PoolNode pn;
      pn.id = id;
      std::istringstream lines(pcp_run("pcp_node_info", fmt::format("-v -n {}", id), until, node).out);
      for (std::string line; std::getline(lines, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon), value = line.substr(colon + 1);
        key.erase(key.find_last_not_of(' ') + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (key == "Hostname") pn.host = value;
        if (key == "Port") pn.port = value;
        if (key == "Status Name") pn.status = value;
        if (key == "Role") pn.role = value;
      }
      const NodeSpec* ns = node_for(pn);
      if (ns && ns->name == node) return pn;
      seen += fmt::format("{}{}:{}", seen.empty() ? "" : ", ", pn.host, pn.port);
    }
    throw std::runtime_error(fmt::format("pgpool does not list {} among its {} backends ({})", node, count, seen));
  }

  // Runs a pcp tool for `node`'s backend (-n ID).
  void pcp(const std::string& tool, const std::string& options, const std::string& node, time_point until) {
    const int id = pool_node(node, until).id;
    pcp_run(tool, fmt::format("{}{}-n {}", options, options.empty() ? "" : " ", id), until, node);
  }

  // Waits until pgpool shows `node` attached (`want`) or not; throws when `until` passes.
  void await_pool_status(const std::string& node, bool want, time_point until, const std::string& what) {
    for (;;) {
      const PoolNode pn = pool_node(node, until);
      if (is_attached(pn) == want) return;
      if (std::chrono::steady_clock::now() >= until)
        throw std::runtime_error(
            fmt::format("{}: pgpool still shows {} (node {}) status={}", what, node, pn.id, pn.status));
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  void attach(const std::string& node, time_point until) override {
    if (is_attached(pool_node(node, until))) return;
    pcp("pcp_attach_node", "", node, until);
    await_pool_status(node, true, until, "pcp_attach_node");
  }

  // Detach first, then stop: pgpool stops routing to the node before it
  // goes. Detaching a standby does not fail over; detaching the primary asks
  // pgpool to fail over (failover_command, with pgpool's choice of the new
  // main node), which is the planned stop of a primary. With no standby left
  // (the primary, last in a whole-cluster stop) the failover script has
  // nothing to promote and pgpool just marks the node down.
  void stop_services(const std::string& node, time_point until) override {
    if (is_attached(pool_node(node, until))) {
      pcp("pcp_detach_node", "", node, until);
      await_pool_status(node, false, until, "pcp_detach_node");
    }
    GenericDriver::stop_services(node, until);
  }
};

}  // namespace

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, TransportPool& pool) {
  if (inv.driver.type == "pgpool") return std::make_unique<PgpoolDriver>(inv, pool);
  if (inv.driver.type == "pacemaker") return make_pacemaker_driver(inv, pool);
  if (inv.driver.type == "patroni") return make_patroni_driver(inv, pool);
  return std::make_unique<GenericDriver>(inv, pool);
}

RoleProber::RoleProber(const Inventory& inv, History& history, std::chrono::milliseconds interval,
                       std::chrono::milliseconds deadline)
    : inv_(inv), history_(history), interval_(interval), deadline_(deadline) {}

RoleProber::~RoleProber() {
  stop();
}

void RoleProber::start() {
  stop_ = false;
  for (const auto& n : inv_.nodes) threads_.emplace_back([this, &n] { loop(n); });
}

void RoleProber::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

// One sample of a node: role, timeline, LSN and whether it accepts writes.
// "Writable" = it answers, is not in recovery and its sessions are not
// read-only. The probe deliberately does not write: a probe write on a deposed
// primary during a split brain would push WAL to the standbys still following
// it and change the very failover it measures (seen here: 3 s became 8 s).
const char* const kNodeStateSql =
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT max(received_tli) FROM pg_stat_wal_receiver), "
    "(SELECT timeline_id FROM pg_control_checkpoint())) "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, "
    "current_setting('transaction_read_only')";

void RoleProber::loop(const NodeSpec& node) {
  std::string last;
  PgConnPtr conn;
  // One SSH session per prober thread (sessions are never shared between threads).
  std::unique_ptr<SshTransport> ssh;
  if (node.postgres.probe == "ssh") ssh = std::make_unique<SshTransport>(node.ssh);
  while (!stop_) {
    const auto tick = std::chrono::steady_clock::now();
    std::string role = "down";
    std::string err;
    std::string state;
    std::vector<std::vector<std::string>> rows;
    if (ssh) {
      rows = sample_over_ssh(*ssh, node, deadline_, &err);
    } else {
      if (!conn || !pg_conn_usable(conn.get()))
        conn = pg_connect(node_target(node), deadline_, &err, static_cast<int>(deadline_.count()));
      if (conn) rows = pg_query_rows(conn.get(), kNodeStateSql, deadline_, &err);
    }
    {
      if (!rows.empty() && rows[0].size() == 4) {
        const bool in_recovery = rows[0][0] == "t";
        role = in_recovery ? "standby" : "primary";
        const bool writable = !in_recovery && rows[0][3] == "off";
        state = fmt::format(R"({{"in_recovery":{},"timeline":{},"lsn":"{}","writable":{}}})", in_recovery,
                            rows[0][1].empty() ? "0" : rows[0][1], rows[0][2], writable);
      } else {
        conn.reset();
      }
    }
    if (state.empty())
      history_.record("probe", OpType::fail, "state", "", node.name, err);
    else
      history_.record("probe", OpType::ok, "state", state, node.name, err);
    if (role != last) {
      history_.record("probe", OpType::ok, "role", role, node.name, role == "down" ? err : "");
      last = role;
    }
    auto next = tick + interval_;
    while (!stop_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace haverify
