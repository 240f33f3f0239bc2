#pragma once
// Unit-test helper: the issues a config reader reports for a text (none if it
// parses).
#include <string>
#include <vector>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"

namespace haverify::testing {

template <class Parse>
std::vector<ConfigIssue> issues_from(Parse parse) {
  try {
    parse();
  } catch (const ConfigError& e) {
    return e.issues();
  }
  return {};
}

inline std::vector<ConfigIssue> inventory_issues(const std::string& text) {
  return issues_from([&] { parse_inventory(text, "inv.yaml"); });
}

inline std::vector<ConfigIssue> scenario_issues(const std::string& yaml) {
  return issues_from([&] { parse_scenario(yaml, "s.yaml"); });
}

}  // namespace haverify::testing
