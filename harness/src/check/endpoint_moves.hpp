#pragma once
// When the service endpoint moved after each fault (internal to the metrics
// pass): the node holding a pgpool watchdog's delegate IP (probe/vip ops)
// and the addresses the clients' DNS answers named (client dns ops).
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "haverify/core/clock.hpp"
#include "haverify/core/history.hpp"

namespace haverify::detail {

class EndpointMoves {
 public:
  // A fault was sent at `sent` (a new fault window, in order): what holds
  // the endpoint now is what it moves away from.
  void fault_sent(Nanos sent);
  void on_op(const Op& op);  // any op; reads probe/vip and client dns ops
  // The first time after fault `i` was sent that another node held the VIP,
  // or a DNS answer named other addresses; nullopt if it did not.
  std::optional<Nanos> vip_moved(std::size_t i) const {
    return i < faults_.size() ? faults_[i].vip_moved : std::nullopt;
  }
  std::optional<Nanos> dns_moved(std::size_t i) const {
    return i < faults_.size() ? faults_[i].dns_moved : std::nullopt;
  }

 private:
  struct Fault {
    Nanos sent = 0;
    std::set<std::string> vip_before;
    std::string dns_before;
    std::optional<Nanos> vip_moved, dns_moved;
  };
  void on_vip(const Op& op);
  void on_dns(const Op& op);
  std::set<std::string> vip_now_;
  std::string dns_now_;  // the addresses of the last DNS answer, sorted, comma-joined
  std::vector<Fault> faults_;
};

}  // namespace haverify::detail
