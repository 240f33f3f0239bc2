#pragma once
// LocalDns: a tiny DNS server for the loopback tests, on 127.0.0.1 (UDP, a
// kernel-chosen port), served by its own thread. It answers A queries from a
// table the test changes while it runs (set), AAAA queries of a known name
// with an empty NOERROR answer (no IPv6 address), unknown names with
// NXDOMAIN; mode(Mode::silent) reads queries and never answers,
// mode(Mode::servfail) answers SERVFAIL.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "local_pg.hpp"  // Fd

namespace haverify::testing {

class LocalDns {
 public:
  enum class Mode { answer, silent, servfail };

  LocalDns() : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_.get() < 0 || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalDns() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  LocalDns(const LocalDns&) = delete;
  LocalDns& operator=(const LocalDns&) = delete;

  bool ready() const { return port_ > 0; }
  int port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }  // for PgTarget::dns_server

  // The A records of `name` (lower case), with `ttl` seconds.
  void set(const std::string& name, std::vector<std::string> ipv4, std::uint32_t ttl = 5) {
    std::lock_guard lock(mu_);
    table_[name] = Entry{std::move(ipv4), ttl};
  }
  void mode(Mode m) { mode_ = m; }
  int queries() const { return queries_; }

 private:
  struct Entry {
    std::vector<std::string> ipv4;
    std::uint32_t ttl = 5;
  };

  void serve() {
    std::vector<std::uint8_t> buf(512);
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      ++queries_;
      if (mode_ == Mode::silent) continue;
      const std::vector<std::uint8_t> out = reply(buf.data(), static_cast<std::size_t>(n));
      if (!out.empty()) ::sendto(fd_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  // The reply to one query: its header and question, then the answers.
  std::vector<std::uint8_t> reply(const std::uint8_t* q, std::size_t n) {
    std::size_t at = 12;
    std::string name;
    while (at < n && q[at] != 0) {
      const std::size_t label = q[at];
      if (label > 63 || at + 1 + label > n) return {};
      if (!name.empty()) name.push_back('.');
      for (std::size_t i = 0; i < label; ++i) name.push_back(static_cast<char>(std::tolower(q[at + 1 + i])));
      at += 1 + label;
    }
    if (at + 5 > n) return {};
    const int qtype = (q[at + 1] << 8) | q[at + 2];
    const std::size_t question_end = at + 5;
    std::vector<std::string> addrs;
    std::uint32_t ttl = 0;
    bool known = false;
    {
      std::lock_guard lock(mu_);
      if (auto it = table_.find(name); it != table_.end()) {
        known = true;
        ttl = it->second.ttl;
        if (qtype == 1) addrs = it->second.ipv4;
      }
    }
    const int rcode = mode_ == Mode::servfail ? 2 : known ? 0 : 3;
    if (rcode != 0) addrs.clear();
    std::vector<std::uint8_t> out(q, q + question_end);
    out[2] = static_cast<std::uint8_t>(0x84 | (q[2] & 0x01));  // QR, AA, the query's RD
    out[3] = static_cast<std::uint8_t>(0x80 | rcode);          // RA, rcode
    out[4] = 0, out[5] = 1;                                    // one question
    out[6] = 0, out[7] = static_cast<std::uint8_t>(addrs.size());
    for (int i = 8; i < 12; ++i) out[static_cast<std::size_t>(i)] = 0;  // no authority, no additional
    for (const auto& a : addrs) {
      in_addr ip{};
      ::inet_pton(AF_INET, a.c_str(), &ip);
      const auto* b = reinterpret_cast<const std::uint8_t*>(&ip);
      const std::uint8_t rr[] = {0xc0,
                                 0x0c,
                                 0,
                                 1,
                                 0,
                                 1,
                                 static_cast<std::uint8_t>(ttl >> 24),
                                 static_cast<std::uint8_t>(ttl >> 16),
                                 static_cast<std::uint8_t>(ttl >> 8),
                                 static_cast<std::uint8_t>(ttl),
                                 0,
                                 4,
                                 b[0],
                                 b[1],
                                 b[2],
                                 b[3]};
      out.insert(out.end(), std::begin(rr), std::end(rr));
    }
    return out;
  }

  Fd fd_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::answer};
  std::atomic<int> queries_{0};
  std::mutex mu_;
  std::map<std::string, Entry> table_;
};

}  // namespace haverify::testing
