#pragma once
// Thin, deadline-bounded libpq helpers used by workloads and probes.
//
// Everything here measures time with the monotonic clock and enforces the
// caller's own millisecond deadline; nothing relies on libpq's
// `connect_timeout` (whole seconds, and at least 2 s per host).
//
// Thread safety: libpq is thread-safe as long as a PGconn is used by one thread
// at a time. These functions keep no shared state except a counter of
// in-flight background cancel requests (see pg_exec).
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "haverify/io/dns.hpp"

namespace haverify {

struct PgConnDeleter {
  void operator()(PGconn* c) const noexcept {
    if (c) PQfinish(c);
  }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept {
    if (r) PQclear(r);
  }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// Quotes one conninfo value: always single-quoted, with `\` and `'` escaped by
// a backslash (the libpq conninfo syntax), so spaces, quotes and backslashes
// are safe. An empty value becomes ''.
std::string conninfo_quote(std::string_view value);

// Where to connect. `host` may be a comma-separated host list and `port` a
// comma-separated port list (libpq multi-host syntax: one port for all hosts,
// or one per host). Empty fields are left out (libpq defaults apply; an empty
// host means the default unix socket).
struct PgTarget {
  std::string host;
  std::string port;
  // The address libpq connects to instead of resolving `host` (libpq's
  // hostaddr; one host only); `host` is still sent for TLS and identity.
  // pg_connect fills it in itself after resolving a host name.
  std::string hostaddr;
  // The DNS server pg_connect asks for a host name ("host[:port]",
  // io/dns.hpp); empty: the system resolver (/etc/resolv.conf, /etc/hosts).
  std::string dns_server;
  std::string user;
  std::string dbname;
  std::string password;
  std::string application_name = "haverify";
  // Raw conninfo appended verbatim at the end, e.g.
  // "target_session_attrs=read-write". Later keywords override earlier ones.
  std::string extra;

  // A libpq conninfo string: the fields above (quoted), then always
  //   tcp_user_timeout=<ms> keepalives=1 keepalives_idle=1
  //   keepalives_interval=1 keepalives_count=3
  // then `extra`. No connect_timeout is set: callers bound connects with their
  // own deadline (pg_connect). On Linux, tcp_user_timeout also bounds SYN
  // retransmission, so a black-holed host in a host list is given up after
  // about tcp_user_timeout and libpq moves on to the next host.
  std::string conninfo(int tcp_user_timeout_ms = 3000) const;

  // Short human-readable form without the password, e.g. "10.0.0.5:5432/app"
  // or "h1:5432,h2:5433/app"; used as the `node` of history ops.
  std::string describe() const;
};

// What one pg_connect did: each host name it resolved (and which of the
// addresses the connection reached), and on failure its class and error.
struct PgConnectReport {
  enum class Failure {
    none,
    dns,      // no host could be resolved (timeout, NXDOMAIN, server failure, no address)
    connect,  // refused, the deadline passed, authentication, ...
  };
  struct Resolution {
    DnsResult dns;
    std::string used;  // the address the connection reached; "" when none did
  };
  Failure failure = Failure::none;
  std::string error;  // one line; a dns failure's starts with "dns: "
  std::vector<Resolution> resolutions;
};
const char* to_string(PgConnectReport::Failure f);

// Non-blocking connect (PQconnectStart + PQconnectPoll + poll() on PQsocket)
// bounded by `deadline` measured from the call. Returns null and sets *error
// (if given) on failure or when the deadline passes. On success the
// connection is in non-blocking mode (PQsetnonblocking) and ready for pg_exec,
// and notices outside pg_exec are discarded (not printed to stderr).
//
// A host given as a name (is_host_name) is resolved here first, without
// blocking, within the same deadline (dns_resolve, with target.dns_server);
// libpq then gets the address as hostaddr and the name as host. The
// addresses of an answer are tried in order, each with its share of what is
// left of the deadline, as the hosts of a host list are. `on_dns`, if set, is
// called with each resolution as soon as it ends (before the connect).
PgConnPtr pg_connect(const PgTarget& target, std::chrono::milliseconds deadline, PgConnectReport& report,
                     int tcp_user_timeout_ms = 3000, const std::function<void(const DnsResult&)>& on_dns = {});
PgConnPtr pg_connect(const PgTarget& target, std::chrono::milliseconds deadline, std::string* error,
                     int tcp_user_timeout_ms = 3000);

// The outcome of one statement.
//
// Classification rule (classify_failure), for a statement that may have
// committed (autocommit write or COMMIT):
//   1. Nothing was sent to the server            -> failed (it cannot have run).
//   2. Otherwise the outcome is `unknown` unless the server sent a definite
//      rejection. In particular unknown when:
//        - the connection broke, or the client deadline passed
//          (connection_lost = true), even if an error code was received;
//        - there is no SQLSTATE (libpq-generated errors; pgpool's own
//          messages when a backend dies);
//        - SQLSTATE class 08 (connection exception), 57P01/57P02/57P03
//          (admin/crash shutdown, cannot connect now), 57014 (canceled),
//          40003 (statement completion unknown), class 58 (system/I-O
//          error), class XX (internal error), or any code not listed below.
//   3. Definite server-side rejection -> failed:
//        class 21 cardinality, 22 data exception, 23 integrity constraint,
//        25 invalid transaction state (incl. 25006 read-only transaction),
//        28 invalid authorization, 0A feature not supported,
//        3D/3F invalid catalog/schema name, 40 transaction rollback
//        (40001 serialization failure, 40P01 deadlock, ...; except 40003),
//        42 syntax error or access rule violation, 53 insufficient resources,
//        54 program limit exceeded, 55 object not in prerequisite state,
//        P0 PL/pgSQL raise.
// The rule is deliberately conservative: an `unknown` costs precision in the
// checkers, a wrong `failed` produces a false "unexpected write" verdict.
struct QueryOutcome {
  enum Kind { ok, failed, unknown };
  Kind kind = failed;
  PgResultPtr result;            // the last result (null when none arrived)
  std::string sqlstate;          // empty when the server sent none
  std::string error;             // one line, "" when ok
  bool connection_lost = false;  // the caller must drop the connection
  bool sent = false;             // the query reached libpq's send path
  // NOTICE/WARNING messages received while the statement ran, one line each,
  // e.g. "WARNING: canceling wait for synchronous replication ..." (the commit
  // is then durable locally but not confirmed by the synchronous standby).
  std::vector<std::string> notices;
  std::chrono::nanoseconds elapsed{0};

  bool is_ok() const { return kind == ok; }
};

const char* to_string(QueryOutcome::Kind k);

// Pure classification of a non-ok outcome; see the rule above.
QueryOutcome::Kind classify_failure(const std::string& sqlstate, bool connection_lost, bool query_was_sent);

// Sends `sql` (simple query protocol; may contain several statements) and
// waits for all results with PQconsumeInput/PQisBusy + poll(), bounded by
// `deadline`. With several results the last one is kept (an earlier SQLSTATE
// is kept when the last error has none).
//
// On the deadline: a cancel request is dispatched from a short-lived
// background thread (PQcancel blocks; at most a few run at once, further
// ones are skipped), the socket is shut down so the connection is dead, and
// the outcome is `unknown` with error "client deadline Nms passed" and
// connection_lost = true. The caller must drop the connection whenever
// connection_lost is true. Notices are collected into QueryOutcome::notices
// (the connection's previous notice receiver is restored afterwards, with a
// null argument).
QueryOutcome pg_exec(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline);

// First column of the first row. nullopt (and *error set) on failure, no rows,
// or a NULL value. *error is cleared on success.
std::optional<std::string> pg_query_scalar(PGconn* conn, const std::string& sql, std::chrono::milliseconds deadline,
                                           std::string* error);

// All rows as text. NULL becomes "" and sets *saw_null (if given). On failure
// returns an empty vector and sets *error; *error is cleared on success.
std::vector<std::vector<std::string>> pg_query_rows(PGconn* conn, const std::string& sql,
                                                    std::chrono::milliseconds deadline, std::string* error,
                                                    bool* saw_null = nullptr);

// True when `conn` is open and idle (no command in flight), i.e. safe to reuse.
// False after pg_exec reported connection_lost (including a passed deadline).
bool pg_conn_usable(const PGconn* conn);

// Background cancel requests still running (for tests and orderly shutdown).
int pg_cancels_in_flight();

}  // namespace haverify
