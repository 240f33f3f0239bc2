#include "haverify/driver.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "faults/fault.hpp"
#include "faults/injector.hpp"
#include "haverify/shell.hpp"

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

void ClusterDriver::switchover(const std::string& target, std::chrono::milliseconds) {
  throw std::runtime_error(fmt::format("the {} driver cannot switch over (to {})", name(), target));
}

std::vector<DetectEvent> ClusterDriver::detect_events(Nanos, std::chrono::milliseconds) {
  return {};
}

std::vector<DetectEvent> NodeDriverBase::detect_events(Nanos since_wall, std::chrono::milliseconds deadline) {
  return detect_from_logs(inv_, pool_, inv_.driver.detect_log, inv_.driver.detect_pattern, since_wall, deadline);
}

std::string NodeDriverBase::switchover_source(const std::string& target, std::chrono::steady_clock::time_point until) {
  if (!inv_.node(target)) throw std::runtime_error(fmt::format("switchover: unknown node {}", target));
  std::string current;
  for (const auto& s : roles(time_left(until)))
    if (s.role == Role::primary) current = s.node;
  if (current.empty()) throw std::runtime_error(fmt::format("switchover: {} reports no primary", name()));
  return current;
}

bool NodeDriverBase::await_serving(const std::string& target, std::chrono::steady_clock::time_point until,
                                   std::string* why) {
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

ExecResult run_on_first_node(const Inventory& inv, faults::TransportPool& pool, const std::string& command,
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

void run_script_over_ssh(faults::TransportPool& pool, const std::string& node, const std::string& script_path,
                         const std::vector<std::string>& args, std::chrono::milliseconds deadline,
                         const std::string& what) {
  std::ifstream in(script_path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the script {}", what, script_path));
  std::stringstream body;
  body << in.rdbuf();
  std::string quoted;
  for (const auto& a : args) quoted += " " + sh_quote(a);
  const std::string cmd =
      fmt::format("bash -s --{} <<'HAVERIFY_SCRIPT_EOF'\n{}\nHAVERIFY_SCRIPT_EOF", quoted, body.str());
  ExecResult r = pool.run("ssh", node, cmd, deadline);
  if (!r.ok())
    throw std::runtime_error(fmt::format("{} failed on {} ({}{}exit {}): {}{}", what, node, r.error,
                                         r.timed_out ? " timed out, " : " ", r.exit_code, r.err, r.out));
}

std::vector<DetectEvent> detect_from_logs(const Inventory& inv, faults::TransportPool& pool, const std::string& log,
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

// Runs the node-side rejoin script over SSH: stop, pg_rewind from the
// primary (after a CHECKPOINT there) or a fresh pg_basebackup, start.
void rejoin_over_ssh(const Inventory& inv, faults::TransportPool& pool, const std::string& node,
                     const std::string& primary, std::chrono::milliseconds deadline) {
  const NodeSpec* n = inv.node(node);
  const NodeSpec* p = inv.node(primary);
  if (!n || !p) throw std::runtime_error(fmt::format("rejoin: unknown node {} or {}", node, primary));
  const InterfaceSpec* repl = p->interface_on("replication");
  const std::string phost = repl ? strip_prefix(repl->address) : p->postgres.host;
  run_script_over_ssh(pool, node, std::string(HAVERIFY_SOURCE_DIR) + "/lab/scripts/pg-rejoin.sh",
                      {n->postgres.data_dir, n->postgres.bin_dir, phost, std::to_string(p->postgres.port), n->name,
                       n->postgres.os_user},
                      deadline, fmt::format("rejoin of {} as a standby of {}", node, primary));
}

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
    rejoin_over_ssh(inv_, pool_, node, primary, deadline);
  }
};

// pgpool-II: roles from SHOW pool_nodes through the endpoint, attach with pcp.
class PgpoolDriver : public GenericDriver {
 public:
  using GenericDriver::GenericDriver;
  std::string name() const override { return "pgpool"; }

  struct PoolNode {
    int id = -1;
    std::string host, status, role, pg_role;
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
    const int c_id = col("node_id"), c_host = col("hostname"), c_status = col("status"), c_role = col("role"),
              c_pgrole = col("pg_role");
    if (c_id < 0 || c_host < 0 || c_status < 0 || c_role < 0) {
      if (error) *error = "SHOW pool_nodes lacks node_id/hostname/status/role (unsupported pgpool version?)";
      return out;
    }
    for (int i = 0; i < PQntuples(r); ++i) {
      PoolNode n;
      n.id = std::atoi(PQgetvalue(r, i, c_id));
      n.host = PQgetvalue(r, i, c_host);
      n.status = PQgetvalue(r, i, c_status);
      n.role = PQgetvalue(r, i, c_role);
      if (c_pgrole >= 0) n.pg_role = PQgetvalue(r, i, c_pgrole);
      out.push_back(n);
    }
    return out;
  }

  const NodeSpec* node_for_host(const std::string& host) const {
    for (const auto& n : inv_.nodes) {
      if (n.postgres.host == host || n.ssh.host == host) return &n;
      for (const auto& i : n.interfaces)
        if (strip_prefix(i.address) == host) return &n;
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
      const NodeSpec* ns = node_for_host(pn.host);
      NodeStatus s;
      s.node = ns ? ns->name : pn.host;
      s.attached = pn.status == "up" || pn.status == "waiting";
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

  void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) override {
    const auto start = std::chrono::steady_clock::now();
    rejoin_over_ssh(inv_, pool_, node, primary, deadline);
    std::string err;
    auto nodes = pool_nodes(deadline, &err);
    int id = -1;
    for (const auto& pn : nodes) {
      const NodeSpec* ns = node_for_host(pn.host);
      if (ns && ns->name == node) id = pn.id;
    }
    if (id < 0) throw std::runtime_error(fmt::format("rejoin {}: pgpool does not list it ({})", node, err));
    auto left =
        deadline - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (left.count() < 1000) left = std::chrono::milliseconds(1000);
    const auto& d = inv_.driver;
    const std::string cmd =
        fmt::format("PCPPASSFILE={} pcp_attach_node -h {} -p {} -U {} -w -n {}", sh_quote(d.pcp_passfile),
                    sh_quote(d.pcp_host), d.pcp_port, sh_quote(d.pcp_user), id);
    ExecResult r = pool_.local().exec(cmd, left);
    if (!r.ok())
      throw std::runtime_error(fmt::format("pcp_attach_node -n {} ({}) failed: {}{} exit {} {}", id, node, r.error,
                                           r.timed_out ? " timed out" : "", r.exit_code, r.err));
  }
};

}  // namespace

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, faults::TransportPool& pool) {
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
