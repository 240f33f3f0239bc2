#include "haverify/cluster/role_prober.hpp"

#include <fmt/format.h>

#include "haverify/cluster/vip.hpp"
#include "haverify/core/op.hpp"

namespace haverify {

RoleProber::RoleProber(const Inventory& inv, History& history, std::chrono::milliseconds interval,
                       std::chrono::milliseconds deadline, std::chrono::milliseconds vip_interval,
                       std::chrono::milliseconds vip_deadline)
    : inv_(inv),
      history_(history),
      interval_(interval),
      deadline_(deadline),
      vip_interval_(vip_interval),
      vip_deadline_(vip_deadline) {}

RoleProber::~RoleProber() {
  stop();
}

void RoleProber::start() {
  stop_ = false;
  for (const auto& n : inv_.nodes) threads_.emplace_back([this, &n] { loop(n); });
  // The VIP's holders (none to sample with a DNS endpoint: its answers are the clients' dns ops).
  if (inv_.driver.watchdog && !inv_.driver.watchdog->vip.empty())
    for (const auto& name : inv_.driver.watchdog->nodes)
      if (const NodeSpec* n = inv_.node(name)) threads_.emplace_back([this, n] { vip_loop(*n); });
}

void RoleProber::sleep_until(std::chrono::steady_clock::time_point next) const {
  while (!stop_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void RoleProber::vip_loop(const NodeSpec& node) {
  const std::string probe(op::proc::probe), f(op::fn::vip);
  const std::string cmd = vip_held_command(inv_.driver.watchdog->vip);
  SshTarget target = node.ssh;
  target.connect_timeout = vip_deadline_;
  SshTransport ssh(target);  // its own session: sessions are never shared between threads
  try {
    ssh.connect();  // the first sample is not a connect's
  } catch (const std::exception&) {
    // a node that is off: its samples say so
  }
  std::string last;
  while (!stop_) {
    const auto tick = std::chrono::steady_clock::now();
    const ExecResult r = ssh.exec(cmd, vip_deadline_);
    const std::string now = r.ok() ? (vip_held_output(r.out) ? "held" : "free") : "?";
    if (now != last) {
      if (r.ok())
        history_.record(probe, OpType::ok, f, now, node.name);
      else
        history_.record(probe, OpType::fail, f, "", node.name, describe(r));
      last = now;
    }
    sleep_until(tick + vip_interval_);
  }
}

void RoleProber::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void RoleProber::loop(const NodeSpec& node) {
  const std::string probe(op::proc::probe);
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
    std::vector<std::string> fields;
    if (ssh) {
      fields = sample_node_over_ssh(*ssh, node, deadline_, &err);
    } else {
      if (!conn || !pg_conn_usable(conn.get()))
        conn = pg_connect(node_target(node), deadline_, &err, static_cast<int>(deadline_.count()));
      if (conn)
        if (auto rows = pg_query_rows(conn.get(), kNodeStateSql, deadline_, &err); !rows.empty()) fields = rows[0];
    }
    if (fields.size() == 5) {
      const bool in_recovery = fields[0] == "t";
      role = in_recovery ? "standby" : "primary";
      const bool writable = !in_recovery && fields[3] == "off";
      state =
          fmt::format(R"({{"in_recovery":{},"timeline":{},"lsn":"{}","writable":{},"instance":{}}})", in_recovery,
                      fields[1].empty() ? "0" : fields[1], fields[2], writable, fields[4].empty() ? "0" : fields[4]);
    } else {
      conn.reset();
    }
    if (state.empty())
      history_.record(probe, OpType::fail, std::string(op::fn::state), "", node.name, err);
    else
      history_.record(probe, OpType::ok, std::string(op::fn::state), state, node.name, err);
    if (role != last) {
      history_.record(probe, OpType::ok, std::string(op::fn::role), role, node.name, role == "down" ? err : "");
      last = role;
    }
    sleep_until(tick + interval_);
  }
}

}  // namespace haverify
