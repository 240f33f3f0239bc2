#pragma once
// Host name resolution bounded by a deadline (c-ares, non-blocking).
//
// libpq resolves a host name with a blocking getaddrinfo() inside
// PQconnectStart, which no deadline of ours can cut short. pg_connect
// therefore resolves names here first, within its connect deadline, and hands
// libpq the address (hostaddr). Each call owns its own c-ares channel: no
// state is shared between threads.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haverify {

// True for an IPv4 or IPv6 address literal ("198.18.1.10", "::1"): no
// resolution needed.
bool is_ip_literal(std::string_view host);

// True when pg_connect resolves `host` itself: neither empty, nor a Unix
// socket directory (starts with '/' or '@'), nor an address literal.
bool is_host_name(std::string_view host);

// A DNS name as RFC 1123 writes one: labels of 1-63 letters, digits and '-'
// (not at a label's ends), joined by '.', at most 253 characters, one
// trailing '.' allowed; not an address literal.
bool valid_dns_name(std::string_view name);

// A DNS server as the inventory writes it: "198.18.1.53", "127.0.0.1:5353",
// "::1", "[::1]:5353". The host must be an address literal (a server named by
// a name would need a resolver to find the resolver).
struct DnsServer {
  std::string address;
  int port = 53;
  // "127.0.0.1:5353", "[::1]:53"
  std::string str() const;
};
// nullopt with *why set when `text` is not host[:port] as above.
std::optional<DnsServer> parse_dns_server(std::string_view text, std::string* why);

// Why a resolution gave no address.
enum class DnsFailure {
  timeout,         // no answer within the deadline
  nxdomain,        // the name does not exist
  server_failure,  // SERVFAIL, REFUSED, a malformed answer, the server unreachable
  no_address,      // the name exists but has no A/AAAA record
  error,           // anything else (a bad name, out of memory, a channel that did not start)
};
const char* to_string(DnsFailure f);

// One resolution: the addresses of the answer, or why there are none.
struct DnsResult {
  std::string name;
  // The servers asked ("127.0.0.1:5353"; the system resolver's from
  // /etc/resolv.conf), comma-separated; "hosts file" when /etc/hosts answered.
  std::string servers;
  std::vector<std::string> addresses;  // IPv4 first, then IPv6, each in the answer's order
  std::chrono::seconds ttl{0};         // the smallest TTL of the addresses (0 from /etc/hosts)
  std::chrono::milliseconds elapsed{0};
  std::optional<DnsFailure> failure;  // set when there is no address
  // One line, "" on success: "dns: db.example.test: no answer from 127.0.0.1:5353 within 1500 ms".
  std::string error;

  bool ok() const { return !failure; }
};

// Resolves `name` (A and AAAA) within `deadline`, measured from the call.
// `server` is "host[:port]" as parse_dns_server reads it: only that server
// is asked, without search domains or /etc/hosts; empty: the system's
// resolver configuration (/etc/resolv.conf, /etc/hosts first), as libpq's
// getaddrinfo would. Never blocks past the deadline; never throws.
DnsResult dns_resolve(const std::string& name, const std::string& server, std::chrono::milliseconds deadline);

}  // namespace haverify
