#include "haverify/io/pg.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace haverify {

namespace {

using Clock = std::chrono::steady_clock;

struct PgCancelDeleter {
  void operator()(PGcancel* c) const noexcept {
    if (c) PQfreeCancel(c);
  }
};
using PgCancelPtr = std::unique_ptr<PGcancel, PgCancelDeleter>;

std::atomic<int> g_cancels_in_flight{0};
constexpr int kMaxCancelsInFlight = 8;

// Milliseconds left until `end`, rounded up so poll() never spins with 0.
int ms_until(Clock::time_point end) {
  const auto left = end - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  const auto ms = (ns + 999'999) / 1'000'000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// Collapses libpq's multi-line messages into one trimmed line.
std::string one_line(const char* s) {
  std::string out;
  if (!s) return out;
  bool pending_space = false;
  for (const char* p = s; *p; ++p) {
    const char c = *p;
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string result_error(const PGresult* r, PGconn* conn) {
  if (r) {
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (primary && *primary) {
      const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
      if (!sev) sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
      return sev ? fmt::format("{}: {}", sev, one_line(primary)) : one_line(primary);
    }
    std::string msg = one_line(PQresultErrorMessage(r));
    if (!msg.empty()) return msg;
  }
  std::string msg = conn ? one_line(PQerrorMessage(conn)) : std::string();
  return msg.empty() ? std::string("unknown error") : msg;
}

std::string result_sqlstate(const PGresult* r) {
  if (!r) return {};
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? std::string(s) : std::string();
}

bool is_success(ExecStatusType st) {
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY || st == PGRES_SINGLE_TUPLE;
}

bool is_copy(ExecStatusType st) {
  return st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH;
}

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

// Fire-and-forget cancel: PQcancel opens its own blocking connection, so it
// runs on a short-lived detached thread that owns the PGcancel object. At most
// kMaxCancelsInFlight run at once; extra requests are skipped (the outcome is
// unknown either way and the caller drops the connection).
void dispatch_cancel(PGconn* conn) {
  if (g_cancels_in_flight.fetch_add(1) >= kMaxCancelsInFlight) {
    g_cancels_in_flight.fetch_sub(1);
    return;
  }
  PgCancelPtr cancel(PQgetCancel(conn));
  if (!cancel) {
    g_cancels_in_flight.fetch_sub(1);
    return;
  }
  try {
    std::thread([c = std::move(cancel)]() mutable {
      char errbuf[256];
      (void)PQcancel(c.get(), errbuf, static_cast<int>(sizeof errbuf));
      c.reset();
      g_cancels_in_flight.fetch_sub(1);
    }).detach();
  } catch (...) {
    // Thread creation failed; the lambda (and the PGcancel) was destroyed.
    g_cancels_in_flight.fetch_sub(1);
  }
}

void discard_notice(void*, const PGresult*) {}

void collect_notice(void* arg, const PGresult* r) {
  auto* out = static_cast<std::vector<std::string>*>(arg);
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (primary && sev)
    out->push_back(fmt::format("{}: {}", sev, one_line(primary)));
  else
    out->push_back(one_line(PQresultErrorMessage(r)));
}

// Routes notices into `sink` for its lifetime, then restores the previous
// receiver. libpq does not return the previous receiver's argument, so it is
// restored with a null argument (fine for libpq's default receiver and ours).
class NoticeScope {
 public:
  NoticeScope(PGconn* conn, std::vector<std::string>* sink)
      : conn_(conn), prev_(PQsetNoticeReceiver(conn, collect_notice, sink)) {}
  ~NoticeScope() { PQsetNoticeReceiver(conn_, prev_ ? prev_ : discard_notice, nullptr); }
  NoticeScope(const NoticeScope&) = delete;
  NoticeScope& operator=(const NoticeScope&) = delete;

 private:
  PGconn* conn_;
  PQnoticeReceiver prev_;
};

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

// A host list ("a,b,c"): libpq's non-blocking connect does not move on from
// a silent host (a powered-off node) until TCP gives up, which can take
// tens of seconds (until ARP fails). A well-configured client gives each
// host its share of the deadline (libpq's connect_timeout does the same in
// blocking mode), so each host gets remaining/hosts_left, in list order.
PgConnPtr pg_connect(const PgTarget& target, std::chrono::milliseconds deadline, std::string* error,
                     int tcp_user_timeout_ms) {
  const auto hosts = split_list(target.host);
  if (hosts.size() < 2) return pg_connect_one(target, deadline, error, tcp_user_timeout_ms);
  const auto ports = split_list(target.port);
  const auto end = Clock::now() + deadline;
  std::string errors;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const int left = ms_until(end);
    if (left <= 0) break;
    PgTarget one = target;
    one.host = hosts[i];
    one.port = ports.size() == hosts.size() ? ports[i] : ports[0];
    std::string err;
    const auto share = std::chrono::milliseconds(std::max<int>(1, left / static_cast<int>(hosts.size() - i)));
    PgConnPtr c = pg_connect_one(one, share, &err, tcp_user_timeout_ms);
    if (c) {
      if (error) error->clear();
      return c;
    }
    errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", hosts[i], err);
  }
  if (error) *error = errors.empty() ? fmt::format("connect deadline {}ms passed", deadline.count()) : errors;
  return PgConnPtr();
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
      return fail(fmt::format("connect deadline {}ms passed ({}; at {}:{})", deadline.count(),
                              conn_stage(PQstatus(conn.get())), h ? h : "?", p ? p : "?"));
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

const char* to_string(QueryOutcome::Kind k) {
  switch (k) {
    case QueryOutcome::ok:
      return "ok";
    case QueryOutcome::failed:
      return "failed";
    case QueryOutcome::unknown:
      return "unknown";
  }
  return "?";
}

QueryOutcome::Kind classify_failure(const std::string& sqlstate, bool connection_lost, bool query_was_sent) {
  if (!query_was_sent) return QueryOutcome::failed;
  if (connection_lost) return QueryOutcome::unknown;
  if (sqlstate.size() != 5) return QueryOutcome::unknown;  // none / pgpool / garbage
  if (sqlstate == "40003") return QueryOutcome::unknown;   // statement completion unknown
  const std::string cls = sqlstate.substr(0, 2);
  static const char* const kDefiniteClasses[] = {"21", "22", "23", "25", "28", "0A", "3D",
                                                 "3F", "40", "42", "53", "54", "55", "P0"};
  for (const char* c : kDefiniteClasses) {
    if (cls == c) return QueryOutcome::failed;
  }
  // 08 connection exception, 57 operator intervention (57P01/02/03, 57014),
  // 58 system error, XX internal error, and everything not known to be a clean
  // rejection: the statement may have committed.
  return QueryOutcome::unknown;
}

QueryOutcome pg_exec(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline) {
  const auto t0 = Clock::now();
  const auto end = t0 + deadline;
  QueryOutcome out;
  auto finish = [&]() -> QueryOutcome {
    out.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0);
    return std::move(out);
  };

  if (!conn) {
    out.kind = QueryOutcome::failed;
    out.error = "no connection";
    out.connection_lost = true;
    return finish();
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    out.kind = QueryOutcome::failed;
    out.error = result_error(nullptr, conn);
    out.connection_lost = true;
    return finish();
  }
  NoticeScope notice_scope(conn, &out.notices);
  if (!PQsendQuery(conn, sql.c_str())) {
    // Nothing went out (e.g. "another command is already in progress").
    out.kind = QueryOutcome::failed;
    out.error = result_error(nullptr, conn);
    out.connection_lost = PQstatus(conn) != CONNECTION_OK;
    return finish();
  }
  out.sent = true;

  PgResultPtr last;
  std::string earlier_sqlstate;
  bool lost = false;
  bool timed_out = false;
  bool done = false;
  while (!done) {
    const int fl = PQflush(conn);  // 0: all sent, 1: more to send, -1: error
    if (fl < 0) {
      lost = true;
      break;
    }
    const bool consumed = PQconsumeInput(conn) != 0;
    // PQisBusy is false once the connection is BAD, so a broken connection
    // drains its error result here without blocking.
    while (!PQisBusy(conn)) {
      PgResultPtr r(PQgetResult(conn));
      if (!r) {
        done = true;
        break;
      }
      const ExecStatusType st = PQresultStatus(r.get());
      if (!is_success(st)) {
        std::string s = result_sqlstate(r.get());
        if (!s.empty()) earlier_sqlstate = std::move(s);
      }
      last = std::move(r);
      if (is_copy(st)) {  // not something we drive; the connection is unusable
        lost = true;
        done = true;
        break;
      }
    }
    if (done) break;
    if (!consumed && PQstatus(conn) == CONNECTION_OK) {
      lost = true;  // read failed but libpq kept the connection: give up on it
      break;
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
      lost = true;
      break;
    }
    const int wait_ms = ms_until(end);
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{};
    pfd.fd = PQsocket(conn);
    if (pfd.fd < 0) {
      lost = true;
      break;
    }
    pfd.events = static_cast<short>(POLLIN | (fl == 1 ? POLLOUT : 0));
    const int rc = ::poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno != EINTR) {
      lost = true;
      break;
    }
  }

  if (timed_out) {
    dispatch_cancel(conn);
    const int sock = PQsocket(conn);
    if (sock >= 0) ::shutdown(sock, SHUT_RDWR);  // the connection is dead from now on
    out.kind = QueryOutcome::unknown;
    out.error = fmt::format("client deadline {}ms passed", deadline.count());
    out.connection_lost = true;
    out.result = std::move(last);
    return finish();
  }

  out.connection_lost = lost || PQstatus(conn) != CONNECTION_OK;
  if (last && is_success(PQresultStatus(last.get()))) {
    out.kind = QueryOutcome::ok;
    out.result = std::move(last);
    return finish();
  }
  out.sqlstate = result_sqlstate(last.get());
  if (out.sqlstate.empty()) out.sqlstate = earlier_sqlstate;
  out.error = last ? result_error(last.get(), conn) : result_error(nullptr, conn);
  if (!last && !out.connection_lost) out.error = "no result from server";
  out.kind = classify_failure(out.sqlstate, out.connection_lost, true);
  out.result = std::move(last);
  return finish();
}

namespace {
std::string outcome_error(const QueryOutcome& o) {
  if (o.sqlstate.empty()) return o.error;
  return fmt::format("{} (SQLSTATE {})", o.error, o.sqlstate);
}
}  // namespace

std::optional<std::string> pg_query_scalar(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline,
                                           std::string* error) {
  QueryOutcome o = pg_exec(conn, sql, deadline);
  auto fail = [error](std::string msg) -> std::optional<std::string> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  if (!o.is_ok()) return fail(outcome_error(o));
  const PGresult* r = o.result.get();
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1 || PQnfields(r) < 1) {
    return fail("query returned no rows");
  }
  if (PQgetisnull(r, 0, 0)) return fail("query returned NULL");
  if (error) error->clear();
  return std::string(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0)));
}

std::vector<std::vector<std::string>> pg_query_rows(PGconn* conn, const std::string& sql,
                                                    std::chrono::milliseconds deadline, std::string* error,
                                                    bool* saw_null) {
  std::vector<std::vector<std::string>> rows;
  if (saw_null) *saw_null = false;
  QueryOutcome o = pg_exec(conn, sql, deadline);
  if (!o.is_ok()) {
    if (error) *error = outcome_error(o);
    return rows;
  }
  const PGresult* r = o.result.get();
  if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
    const int n = PQntuples(r);
    const int m = PQnfields(r);
    rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> row;
      row.reserve(static_cast<std::size_t>(m));
      for (int j = 0; j < m; ++j) {
        if (PQgetisnull(r, i, j)) {
          if (saw_null) *saw_null = true;
          row.emplace_back();
        } else {
          row.emplace_back(PQgetvalue(r, i, j), static_cast<std::size_t>(PQgetlength(r, i, j)));
        }
      }
      rows.push_back(std::move(row));
    }
  }
  if (error) error->clear();
  return rows;
}

bool pg_conn_usable(const PGconn* conn) {
  if (!conn || PQstatus(conn) != CONNECTION_OK) return false;
  const PGTransactionStatusType ts = PQtransactionStatus(conn);
  return ts == PQTRANS_IDLE || ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

int pg_cancels_in_flight() {
  return g_cancels_in_flight.load();
}

}  // namespace haverify
