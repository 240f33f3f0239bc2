#include "haverify/io/pg.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "pg_detail.hpp"

namespace haverify {

namespace {

using namespace pg_detail;  // Clock, discard_notice, ms_until, one_line

struct PgCancelDeleter {
  void operator()(PGcancel* c) const noexcept {
    if (c) PQfreeCancel(c);
  }
};
using PgCancelPtr = std::unique_ptr<PGcancel, PgCancelDeleter>;

std::atomic<int> g_cancels_in_flight{0};
constexpr int kMaxCancelsInFlight = 8;

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
    // Thread creation failed (std::system_error, std::bad_alloc); the lambda
    // (and the PGcancel) was destroyed. Skipped like a cancel over the limit:
    // the outcome is unknown either way and the caller drops the connection.
    g_cancels_in_flight.fetch_sub(1);
  }
}

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

namespace {

// What waiting for a statement's results saw.
struct Awaited {
  PgResultPtr last;              // the last result
  std::string earlier_sqlstate;  // of an earlier error result
  bool lost = false;             // the connection broke or is unusable
  bool timed_out = false;        // the deadline passed first
};

// Takes every result libpq can give from what it has already read (PQisBusy
// parses its buffer; it reads nothing from the socket). True once the
// terminating null result arrived, or after a COPY result (not something we
// drive: the connection is then unusable). PQisBusy is false once the
// connection is BAD, so a broken connection drains its error result here.
bool take_ready_results(PGconn* conn, Awaited& a) {
  while (!PQisBusy(conn)) {
    PgResultPtr r(PQgetResult(conn));
    if (!r) return true;
    const ExecStatusType st = PQresultStatus(r.get());
    if (!is_success(st)) {
      std::string s = result_sqlstate(r.get());
      if (!s.empty()) a.earlier_sqlstate = std::move(s);
    }
    a.last = std::move(r);
    if (is_copy(st)) {
      a.lost = true;
      return true;
    }
  }
  return false;
}

// Waits until every result of the statement sent arrived, or `end`. The
// socket is read only after poll() says it is readable: one recv per reply
// on a quick server (reading first would cost a recv that finds nothing).
Awaited await_results(PGconn* conn, Clock::time_point end) {
  Awaited a;
  for (;;) {
    const int fl = PQflush(conn);  // 0: all sent, 1: more to send, -1: error
    if (fl < 0) {
      a.lost = true;
      return a;
    }
    if (take_ready_results(conn, a)) return a;
    if (PQstatus(conn) == CONNECTION_BAD) {
      a.lost = true;
      return a;
    }
    const int wait_ms = ms_until(end);
    if (wait_ms <= 0) {
      a.timed_out = true;
      return a;
    }
    pollfd pfd{};
    pfd.fd = PQsocket(conn);
    if (pfd.fd < 0) {
      a.lost = true;
      return a;
    }
    pfd.events = static_cast<short>(POLLIN | (fl == 1 ? POLLOUT : 0));
    const int rc = ::poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno != EINTR) {
      a.lost = true;
      return a;
    }
    if (rc <= 0) continue;  // EINTR, or the deadline: checked at the top
    const bool consumed = PQconsumeInput(conn) != 0;
    if (take_ready_results(conn, a)) return a;
    if (!consumed && PQstatus(conn) == CONNECTION_OK) {
      a.lost = true;  // read failed but libpq kept the connection: give up on it
      return a;
    }
  }
}

// The deadline passed: cancel (in the background), kill the connection, unknown.
void abandon(PGconn* conn, Awaited& a, std::chrono::milliseconds deadline, QueryOutcome& out) {
  dispatch_cancel(conn);
  const int sock = PQsocket(conn);
  if (sock >= 0) ::shutdown(sock, SHUT_RDWR);  // the connection is dead from now on
  out.kind = QueryOutcome::unknown;
  out.error = fmt::format("client deadline {}ms passed", deadline.count());
  out.connection_lost = true;
  out.result = std::move(a.last);
}

// Every result arrived (or the connection broke): ok, or classified.
void conclude(PGconn* conn, Awaited& a, QueryOutcome& out) {
  out.connection_lost = a.lost || PQstatus(conn) != CONNECTION_OK;
  if (a.last && is_success(PQresultStatus(a.last.get()))) {
    out.kind = QueryOutcome::ok;
    out.result = std::move(a.last);
    return;
  }
  out.sqlstate = result_sqlstate(a.last.get());
  if (out.sqlstate.empty()) out.sqlstate = a.earlier_sqlstate;
  out.error = a.last ? result_error(a.last.get(), conn) : result_error(nullptr, conn);
  if (!a.last && !out.connection_lost) out.error = "no result from server";
  out.kind = classify_failure(out.sqlstate, out.connection_lost, true);
  out.result = std::move(a.last);
}

// Sends `sql` and waits for its outcome; `out.elapsed` is left to the caller.
void run_statement(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline, Clock::time_point end,
                   QueryOutcome& out) {
  out.kind = QueryOutcome::failed;  // until something else is known
  if (!conn) {
    out.error = "no connection";
    out.connection_lost = true;
    return;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    out.error = result_error(nullptr, conn);
    out.connection_lost = true;
    return;
  }
  NoticeScope notice_scope(conn, &out.notices);
  if (!PQsendQuery(conn, sql.c_str())) {
    // Nothing went out (e.g. "another command is already in progress").
    out.error = result_error(nullptr, conn);
    out.connection_lost = PQstatus(conn) != CONNECTION_OK;
    return;
  }
  out.sent = true;
  Awaited a = await_results(conn, end);
  if (a.timed_out)
    abandon(conn, a, deadline, out);
  else
    conclude(conn, a, out);
}

}  // namespace

QueryOutcome pg_exec(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline) {
  const auto t0 = Clock::now();
  QueryOutcome out;
  run_statement(conn, sql, deadline, t0 + deadline, out);
  out.elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0);
  return out;
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
