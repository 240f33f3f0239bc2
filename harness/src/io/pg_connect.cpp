// Connections: conninfo, the non-blocking connect with a deadline, host lists.
#include <poll.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "haverify/io/pg.hpp"
#include "pg_detail.hpp"

namespace haverify {

namespace {

using namespace pg_detail;  // Clock, discard_notice, ms_until, one_line

const char* conn_stage(ConnStatusType st) {
  switch (st) {
    case CONNECTION_OK:
      return "ok";
    case CONNECTION_BAD:
      return "bad";
    case CONNECTION_STARTED:
      return "waiting for TCP connect";
    case CONNECTION_MADE:
      return "TCP connected, sending startup";
    case CONNECTION_AWAITING_RESPONSE:
      return "awaiting server response";
    case CONNECTION_AUTH_OK:
      return "authenticated, awaiting backend start";
    case CONNECTION_SETENV:
      return "negotiating environment";
    case CONNECTION_SSL_STARTUP:
      return "negotiating SSL";
    case CONNECTION_NEEDED:
      return "needs connect";
    case CONNECTION_CHECK_WRITABLE:
      return "checking writability";
    case CONNECTION_CONSUME:
      return "consuming results";
    case CONNECTION_GSS_STARTUP:
      return "negotiating GSS";
    case CONNECTION_CHECK_TARGET:
      return "checking target_session_attrs";
    case CONNECTION_CHECK_STANDBY:
      return "checking standby state";
  }
  return "?";
}

}  // namespace

std::string conninfo_quote(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string PgTarget::conninfo(int tcp_user_timeout_ms) const {
  std::string out;
  auto add = [&out](const char* key, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out.push_back(' ');
    out += key;
    out.push_back('=');
    out += conninfo_quote(value);
  };
  add("host", host);
  add("hostaddr", hostaddr);
  add("port", port);
  add("user", user);
  add("dbname", dbname);
  add("password", password);
  add("application_name", application_name);
  if (!out.empty()) out.push_back(' ');
  out += fmt::format(
      "tcp_user_timeout={} keepalives=1 keepalives_idle=1 keepalives_interval=1 "
      "keepalives_count=3",
      tcp_user_timeout_ms < 0 ? 0 : tcp_user_timeout_ms);
  if (!extra.empty()) {
    out.push_back(' ');
    out += extra;
  }
  return out;
}

std::string PgTarget::describe() const {
  auto split = [](const std::string& s) {
    std::vector<std::string> parts;
    std::string cur;
    for (char c : s) {
      if (c == ',') {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    parts.push_back(cur);
    return parts;
  };
  const auto hosts = split(host.empty() ? std::string("local") : host);
  const auto ports = split(port);
  std::string out;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (i) out.push_back(',');
    out += hosts[i].empty() ? std::string("local") : hosts[i];
    std::string p;
    if (ports.size() == hosts.size())
      p = ports[i];
    else if (ports.size() == 1)
      p = ports[0];
    if (!p.empty()) {
      out.push_back(':');
      out += p;
    }
  }
  if (!dbname.empty()) {
    out.push_back('/');
    out += dbname;
  }
  return out;
}

namespace {
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == ',')
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}
PgConnPtr pg_connect_one(const PgTarget& target, std::chrono::milliseconds deadline, std::string* error,
                         int tcp_user_timeout_ms);
}  // namespace

const char* to_string(PgConnectReport::Failure f) {
  switch (f) {
    case PgConnectReport::Failure::none:
      return "none";
    case PgConnectReport::Failure::dns:
      return "dns";
    case PgConnectReport::Failure::connect:
      return "connect";
  }
  return "?";
}

namespace {

// One host of the target: a host name is resolved first (within `deadline`),
// then its addresses are tried in order, each with its share of what is
// left; anything else goes to libpq as it is. *dns_failed says the name did
// not resolve.
PgConnPtr connect_host(const PgTarget& target, std::chrono::milliseconds deadline, PgConnectReport& report,
                       std::string* error, bool* dns_failed, int tcp_user_timeout_ms,
                       const std::function<void(const DnsResult&)>& on_dns) {
  *dns_failed = false;
  if (!target.hostaddr.empty() || !is_host_name(target.host))
    return pg_connect_one(target, deadline, error, tcp_user_timeout_ms);
  const auto end = Clock::now() + deadline;
  report.resolutions.push_back({dns_resolve(target.host, target.dns_server, deadline), ""});
  const std::size_t at = report.resolutions.size() - 1;
  const DnsResult& dns = report.resolutions[at].dns;
  if (on_dns) on_dns(dns);
  if (!dns.ok()) {
    *dns_failed = true;
    *error = dns.error;
    return PgConnPtr();
  }
  std::string errors;
  const std::size_t n = dns.addresses.size();
  for (std::size_t i = 0; i < n; ++i) {
    const int left = ms_until(end);
    if (left <= 0) break;
    PgTarget one = target;
    one.hostaddr = dns.addresses[i];
    std::string err;
    const auto share = std::chrono::milliseconds(std::max<int>(1, left / static_cast<int>(n - i)));
    if (PgConnPtr c = pg_connect_one(one, share, &err, tcp_user_timeout_ms)) {
      report.resolutions[at].used = one.hostaddr;
      return c;
    }
    errors += n == 1 ? err : fmt::format("{}{}: {}", errors.empty() ? "" : "; ", one.hostaddr, err);
  }
  *error = errors.empty() ? fmt::format("connect deadline {}ms passed (dns: {} took {} ms)", deadline.count(),
                                        target.host, dns.elapsed.count())
                          : errors;
  return PgConnPtr();
}

}  // namespace

// A host list ("a,b,c"): libpq's non-blocking connect does not move on from
// a silent host (a powered-off node) until TCP gives up, which can take
// tens of seconds (until ARP fails). A well-configured client gives each
// host its share of the deadline (libpq's connect_timeout does the same in
// blocking mode), so each host gets remaining/hosts_left, in list order.
PgConnPtr pg_connect(const PgTarget& target, std::chrono::milliseconds deadline, PgConnectReport& report,
                     int tcp_user_timeout_ms, const std::function<void(const DnsResult&)>& on_dns) {
  report = PgConnectReport();
  const auto hosts = split_list(target.host);
  const auto ports = split_list(target.port);
  const auto end = Clock::now() + deadline;
  std::string errors;
  bool tried = false, all_dns = true;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const int left = ms_until(end);
    if (left <= 0 && tried) break;
    PgTarget one = target;
    auto share = deadline;
    if (hosts.size() > 1) {
      one.host = hosts[i];
      one.port = ports.size() == hosts.size() ? ports[i] : ports[0];
      one.hostaddr.clear();
      share = std::chrono::milliseconds(std::max<int>(1, left / static_cast<int>(hosts.size() - i)));
    }
    std::string err;
    bool dns_failed = false;
    tried = true;
    if (PgConnPtr c = connect_host(one, share, report, &err, &dns_failed, tcp_user_timeout_ms, on_dns)) return c;
    all_dns = all_dns && dns_failed;
    errors += hosts.size() < 2 ? err : fmt::format("{}{}: {}", errors.empty() ? "" : "; ", hosts[i], err);
  }
  report.failure = all_dns ? PgConnectReport::Failure::dns : PgConnectReport::Failure::connect;
  report.error = errors.empty() ? fmt::format("connect deadline {}ms passed", deadline.count()) : errors;
  return PgConnPtr();
}

PgConnPtr pg_connect(const PgTarget& target, std::chrono::milliseconds deadline, std::string* error,
                     int tcp_user_timeout_ms) {
  PgConnectReport report;
  PgConnPtr c = pg_connect(target, deadline, report, tcp_user_timeout_ms);
  if (error) *error = c ? std::string() : std::move(report.error);
  return c;
}

namespace {
PgConnPtr pg_connect_one(const PgTarget& target, std::chrono::milliseconds deadline, std::string* error,
                         int tcp_user_timeout_ms) {
  const auto end = Clock::now() + deadline;
  auto fail = [error](std::string msg) {
    if (error) *error = std::move(msg);
    return PgConnPtr();
  };
  const std::string ci = target.conninfo(tcp_user_timeout_ms);
  PgConnPtr conn(PQconnectStart(ci.c_str()));
  if (!conn) return fail("PQconnectStart: out of memory");
  if (PQstatus(conn.get()) == CONNECTION_BAD) {
    return fail(one_line(PQerrorMessage(conn.get())));
  }
  // Per the libpq docs, start as if PQconnectPoll had returned WRITING.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) {
      std::string msg = one_line(PQerrorMessage(conn.get()));
      return fail(msg.empty() ? std::string("connection failed") : msg);
    }
    const int sock = PQsocket(conn.get());  // may change between polls
    if (sock < 0) return fail("connection failed: no socket");
    const int wait_ms = ms_until(end);
    if (wait_ms <= 0) {
      const char* h = PQhost(conn.get());
      const char* p = PQport(conn.get());
      const std::string addr = target.hostaddr.empty() ? std::string() : " (" + target.hostaddr + ")";
      return fail(fmt::format("connect deadline {}ms passed ({}; at {}{}:{})", deadline.count(),
                              conn_stage(PQstatus(conn.get())), h ? h : "?", addr, p ? p : "?"));
    }
    pollfd pfd{};
    pfd.fd = sock;
    pfd.events = (st == PGRES_POLLING_READING) ? POLLIN : POLLOUT;
    const int rc = ::poll(&pfd, 1, wait_ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (rc == 0) continue;  // re-check the deadline at the top
    st = PQconnectPoll(conn.get());
  }
  PQsetNoticeReceiver(conn.get(), discard_notice, nullptr);
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    return fail("PQsetnonblocking: " + one_line(PQerrorMessage(conn.get())));
  }
  if (error) error->clear();
  return conn;
}
}  // namespace

}  // namespace haverify
