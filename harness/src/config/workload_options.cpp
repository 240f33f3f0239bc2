#include "haverify/config/workload_options.hpp"

#include <algorithm>

namespace haverify {

bool valid_maintenance_op(const std::string& op) {
  return op == "vacuum" || op == "vacuum_full" || op == "analyze" || op == "checkpoint" || op == "basebackup" ||
         op == "churn";
}

const std::vector<std::string>& default_process_selectors() {
  static const std::vector<std::string> s = {"postgres", "pgpool", "corosync", "pacemaker", "patroni", "etcd"};
  return s;
}

static bool valid_comm(const std::string& c) {
  // /proc/PID/comm is at most 15 bytes; keep to characters that need no quoting in a case pattern.
  return !c.empty() && c.size() <= 15 && std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.';
  });
}

bool valid_sampler_selector(const std::string& s) {
  const auto& d = default_process_selectors();
  if (std::find(d.begin(), d.end(), s) != d.end()) return true;
  return s.rfind("name:", 0) == 0 && valid_comm(s.substr(5));
}

}  // namespace haverify
