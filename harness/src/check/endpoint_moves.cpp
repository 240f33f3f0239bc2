#include "endpoint_moves.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"

namespace haverify::detail {

void EndpointMoves::fault_sent(Nanos sent) {
  faults_.push_back(Fault{sent, vip_now_, dns_now_, std::nullopt, std::nullopt});
}

void EndpointMoves::on_op(const Op& op) {
  if (op::is(op, op::proc::probe, op::fn::vip))
    on_vip(op);
  else if (op.f == op::fn::dns && op.type == OpType::ok)
    on_dns(op);
}

// A VIP sample that changed: the first time a node that did not hold it at
// a fault holds it after is that fault's VIP move.
void EndpointMoves::on_vip(const Op& op) {
  if (op.type != OpType::ok || op.value != "held") {
    vip_now_.erase(op.node);
    return;
  }
  vip_now_.insert(op.node);
  for (Fault& f : faults_)
    if (!f.vip_moved && op.mono_ns > f.sent && !f.vip_before.count(op.node)) f.vip_moved = op.mono_ns;
}

// A client's DNS answer ({"addrs":[...]}, recorded when it changed for that
// client): the first answer after a fault naming other addresses than the
// last answer before it is that fault's DNS move.
void EndpointMoves::on_dns(const Op& op) {
  const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("addrs") || !j["addrs"].is_array() || j["addrs"].empty()) return;
  std::vector<std::string> addrs;
  for (const auto& a : j["addrs"])
    if (a.is_string()) addrs.push_back(a.get<std::string>());
  std::sort(addrs.begin(), addrs.end());
  std::string answer;
  for (const auto& a : addrs) answer += (answer.empty() ? "" : ",") + a;
  if (answer.empty() || answer == dns_now_) return;
  dns_now_ = answer;
  for (Fault& f : faults_)
    if (!f.dns_moved && op.mono_ns > f.sent && !f.dns_before.empty() && answer != f.dns_before)
      f.dns_moved = op.mono_ns;
}

}  // namespace haverify::detail
