// Host name resolution with c-ares, bounded by the caller's deadline.
#include "haverify/io/dns.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>

#include <fmt/format.h>

namespace haverify {

namespace {

using Clock = std::chrono::steady_clock;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RAII for c-ares' handles. ares_destroy runs the channel's pending
// callbacks (ARES_EDESTRUCTION), so whatever they write to must outlive it.
struct ChannelDeleter {
  void operator()(ares_channel c) const noexcept { ares_destroy(c); }
};
struct DataDeleter {
  void operator()(void* p) const noexcept { ares_free_data(p); }
};
struct AddrinfoDeleter {
  void operator()(ares_addrinfo* p) const noexcept { ares_freeaddrinfo(p); }
};
using AresChannel = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelDeleter>;
using AresServers = std::unique_ptr<ares_addr_port_node, DataDeleter>;
using AresAddrinfo = std::unique_ptr<ares_addrinfo, AddrinfoDeleter>;

int library_status() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

// What the callback hands back to the loop.
struct Lookup {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::string> v4, v6;
  int ttl = INT_MAX;
};

void on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  auto* l = static_cast<Lookup*>(arg);
  const AresAddrinfo owned(res);
  l->done = true;
  l->status = status;
  if (status != ARES_SUCCESS || !res) return;
  for (const ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (n->ai_family == AF_INET) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
      if (inet_ntop(AF_INET, &sa->sin_addr, buf.data(), buf.size())) l->v4.emplace_back(buf.data());
    } else if (n->ai_family == AF_INET6) {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
      if (inet_ntop(AF_INET6, &sa->sin6_addr, buf.data(), buf.size())) l->v6.emplace_back(buf.data());
    } else {
      continue;
    }
    l->ttl = std::min(l->ttl, std::max(0, n->ai_ttl));
  }
}

std::string servers_of(ares_channel ch) {
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS) return "?";
  const AresServers owned(list);
  std::string out;
  for (const ares_addr_port_node* n = list; n; n = n->next) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    DnsServer one;
    if (inet_ntop(n->family, &n->addr, buf.data(), buf.size())) one.address = buf.data();
    one.port = n->udp_port > 0 ? n->udp_port : 53;
    if (!out.empty()) out += ',';
    out += one.str();
  }
  return out.empty() ? std::string("no server") : out;
}

// A channel that asks `server` only (no search list, no /etc/hosts), or the
// system resolver; each try's timeout a fraction of the deadline (c-ares
// doubles it per round), so c-ares keeps asking until our deadline ends it.
int open_channel(AresChannel& c, const std::string& server, std::chrono::milliseconds deadline) {
  ares_options opt{};
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  opt.timeout = static_cast<int>(std::clamp<std::int64_t>(deadline.count() / 8, 25, 1000));
  opt.tries = 8;
  std::string lookups = "b";
  if (!server.empty()) {
    mask |= ARES_OPT_FLAGS | ARES_OPT_LOOKUPS;
    opt.flags = ARES_FLAG_NOSEARCH;
    opt.lookups = lookups.data();
  }
  ares_channel ch = nullptr;
  if (const int st = ares_init_options(&ch, &opt, mask); st != ARES_SUCCESS) return st;
  c.reset(ch);
  if (server.empty()) return ARES_SUCCESS;
  const auto parsed = parse_dns_server(server, nullptr);
  return parsed ? ares_set_servers_ports_csv(c.get(), parsed->str().c_str()) : ARES_EBADSTR;
}

int ms_until(Clock::time_point end) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left, INT_MAX));
}

// Drives the channel until the lookup is done or `end` passes (then the
// query is cancelled: ARES_ECANCELLED). 0, or poll()'s errno when it failed.
int drive(ares_channel ch, const Lookup& l, Clock::time_point end) {
  while (!l.done) {
    const int left = ms_until(end);
    if (left <= 0) {
      ares_cancel(ch);
      return 0;
    }
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
    const int bits = ares_getsock(ch, socks.data(), ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev) fds.push_back(pollfd{socks[static_cast<std::size_t>(i)], ev, 0});
    }
    timeval max_tv{left / 1000, (left % 1000) * 1000}, tv{};
    const timeval* next = ares_timeout(ch, &max_tv, &tv);
    const int wait = next ? static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000) : left;
    const int rc = ::poll(fds.data(), fds.size(), std::min(wait, left));
    if (rc < 0 && errno != EINTR) {
      const int err = errno;
      ares_cancel(ch);
      return err;
    }
    if (rc <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
      continue;
    }
    for (const pollfd& p : fds) {
      const bool in = p.revents & (POLLIN | POLLERR | POLLHUP), out = p.revents & POLLOUT;
      if (in || out) ares_process_fd(ch, in ? p.fd : ARES_SOCKET_BAD, out ? p.fd : ARES_SOCKET_BAD);
    }
  }
  return 0;
}

DnsFailure failure_of(int status) {
  switch (status) {
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return DnsFailure::timeout;
    case ARES_ENOTFOUND:
      return DnsFailure::nxdomain;
    case ARES_ENODATA:
      return DnsFailure::no_address;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
    case ARES_EBADRESP:
    case ARES_ECONNREFUSED:
      return DnsFailure::server_failure;
    default:
      return DnsFailure::error;
  }
}

void describe_failure(DnsResult& r, int status, std::chrono::milliseconds deadline) {
  const DnsFailure f = r.failure.value_or(DnsFailure::error);
  const std::string& n = r.name;
  switch (f) {
    case DnsFailure::timeout:
      r.error = fmt::format("dns: {}: no answer from {} within {} ms", n, r.servers,
                            status == ARES_ETIMEOUT ? r.elapsed.count() : deadline.count());
      return;
    case DnsFailure::nxdomain:
      r.error = fmt::format("dns: {}: no such name (NXDOMAIN from {})", n, r.servers);
      return;
    case DnsFailure::server_failure:
      r.error = fmt::format("dns: {}: server failure from {}: {}", n, r.servers, ares_strerror(status));
      return;
    case DnsFailure::no_address:
      r.error = fmt::format("dns: {}: no A or AAAA record (answer from {})", n, r.servers);
      return;
    case DnsFailure::error:
      r.error = fmt::format("dns: {}: {}", n, ares_strerror(status));
      return;
  }
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  const std::string h(host);
  in6_addr buf{};
  return inet_pton(AF_INET, h.c_str(), &buf) == 1 || inet_pton(AF_INET6, h.c_str(), &buf) == 1;
}

bool is_host_name(std::string_view host) {
  return !host.empty() && host.front() != '/' && host.front() != '@' && !is_ip_literal(host);
}

bool valid_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253 || is_ip_literal(name)) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    start = dot + 1;
  }
  return true;
}

std::string DnsServer::str() const {
  return address.find(':') != std::string::npos ? fmt::format("[{}]:{}", address, port)
                                                : fmt::format("{}:{}", address, port);
}

std::optional<DnsServer> parse_dns_server(std::string_view text, std::string* why) {
  auto fail = [why](std::string msg) -> std::optional<DnsServer> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  DnsServer s;
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {  // [v6] or [v6]:port
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("'[' without ']'");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1)) return fail("expected ':port' after ']'");
    if (!rest.empty()) port = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // v4:port
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
    if (port.empty()) return fail("expected a port after ':'");
  }
  if (!is_ip_literal(host))
    return fail(fmt::format("'{}' is not an IP address (a DNS server is given by address)", host));
  s.address = std::string(host);
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 ||
        std::stoi(std::string(port)) > 65535)
      return fail(fmt::format("'{}' is not a UDP port 1..65535", port));
    s.port = std::stoi(std::string(port));
  }
  return s;
}

const char* to_string(DnsFailure f) {
  switch (f) {
    case DnsFailure::timeout:
      return "timeout";
    case DnsFailure::nxdomain:
      return "nxdomain";
    case DnsFailure::server_failure:
      return "server_failure";
    case DnsFailure::no_address:
      return "no_address";
    case DnsFailure::error:
      return "error";
  }
  return "?";
}

DnsResult dns_resolve(const std::string& name, const std::string& server, std::chrono::milliseconds deadline) {
  const auto t0 = Clock::now();
  const auto end = t0 + deadline;
  DnsResult r;
  r.name = name;
  r.servers = server.empty() ? std::string("the system resolver") : server;
  std::string why;
  if (!server.empty() && !parse_dns_server(server, &why)) {
    r.failure = DnsFailure::error;
    r.error = fmt::format("dns: {}: bad DNS server '{}': {}", name, server, why);
    return r;
  }
  Lookup l;  // before the channel: ares_destroy may still call back into it
  AresChannel c;
  int status = library_status();
  if (status == ARES_SUCCESS) status = open_channel(c, server, deadline);
  if (status == ARES_SUCCESS) {
    r.servers = servers_of(c.get());
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(c.get(), name.c_str(), nullptr, &hints, on_answer, &l);
    if (const int err = drive(c.get(), l, end); err != 0) {
      r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
      r.failure = DnsFailure::error;
      r.error = fmt::format("dns: {}: poll: {}", name, std::strerror(err));
      return r;
    }
    status = l.done ? l.status : ARES_ECANCELLED;
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  r.addresses = l.v4;
  r.addresses.insert(r.addresses.end(), l.v6.begin(), l.v6.end());
  if (status == ARES_SUCCESS && r.addresses.empty()) status = ARES_ENODATA;
  if (status != ARES_SUCCESS) {
    r.addresses.clear();
    r.failure = failure_of(status);
    describe_failure(r, status, deadline);
    return r;
  }
  r.ttl = std::chrono::seconds(l.ttl == INT_MAX ? 0 : l.ttl);
  return r;
}

}  // namespace haverify
