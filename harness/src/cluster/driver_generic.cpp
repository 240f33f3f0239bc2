#include "haverify/cluster/driver_generic.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/cluster/observe.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

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

}  // namespace

std::string GenericDriver::status_text(std::chrono::milliseconds deadline) {
  std::string out;
  for (const auto& s : roles(deadline)) out += fmt::format("{} {} {}\n", s.node, to_string(s.role), s.detail);
  return out;
}

void GenericDriver::rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  run_pg_rejoin(node, primary, "rewind", until);
  attach(node, until);
}

void GenericDriver::rebuild(const std::string& node, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "rebuild of " + node;
  require_standby(node, until, what);
  const std::string primary = require_primary(what);
  stop_services(node, until);
  run_pg_rejoin(node, primary, "basebackup", until);
  attach(node, until);
  await_standby(node, until, what);
}

std::string GenericDriver::start_cluster(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "start of the cluster";
  const std::string primary = last_primary_.empty() ? stopped_primary(until) : last_primary_;
  pg_ctl_start(primary, until);
  attach(primary, until);
  std::string why;
  if (!await_serving(primary, until, &why))
    throw ClusterDefect(fmt::format("{}: the last primary {} does not serve in time: {}", what, primary, why));
  for (const auto& n : inv_.nodes)
    if (n.name != primary) rejoin(n.name, primary, time_left(until));
  return await_cluster_healthy(until, what);
}

void GenericDriver::stop_services(const std::string& node, time_point until) {
  const NodeSpec& n = *inv_.node(node);
  const std::string ctl =
      fmt::format("run {}/pg_ctl -D {}", sh_quote(n.postgres.bin_dir), sh_quote(n.postgres.data_dir));
  const std::string cmd =
      fmt::format("{}if {} status >/dev/null 2>&1; then {} stop -m fast -w -t {}; else echo 'not running'; fi",
                  as_os_user_prelude(n), ctl, ctl, seconds_left(until));
  run_service_command(node, cmd, until, "stop (pg_ctl)");
}

void GenericDriver::pg_ctl_start(const std::string& node, time_point until) {
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

std::string GenericDriver::stopped_primary(time_point until) {
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

void GenericDriver::run_pg_rejoin(const std::string& node, const std::string& primary, const std::string& mode,
                                  time_point until) {
  const NodeSpec* n = inv_.node(node);
  const NodeSpec* p = inv_.node(primary);
  if (!n || !p) throw std::runtime_error(fmt::format("rejoin: unknown node {} or {}", node, primary));
  const InterfaceSpec* repl = p->interface_on("replication");
  const std::string phost = repl ? address_without_prefix(repl->address) : p->postgres.host;
  std::map<std::string, std::string> env = {{"PG_REJOIN_MODE", mode}};
  if (!n->postgres.log_file.empty()) env["PG_REJOIN_LOGFILE"] = n->postgres.log_file;
  run_script_over_ssh(
      pool_, node, rejoin_script_,
      {n->postgres.data_dir, n->postgres.bin_dir, phost, std::to_string(p->postgres.port), n->name, n->postgres.os_user,
       n->postgres.user, std::to_string(seconds_left(until))},
      time_left(until),
      fmt::format("{} of {} as a standby of {}", mode == "basebackup" ? "rebuild" : "rejoin", node, primary), env);
}

std::unique_ptr<ClusterDriver> make_generic_driver(const Inventory& inv, TransportPool& pool,
                                                   const std::string& rejoin_script) {
  return std::make_unique<GenericDriver>(inv, pool, rejoin_script);
}

}  // namespace haverify
