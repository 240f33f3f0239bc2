#pragma once
// The `steps:` of a scenario (scenario_steps.cpp): one reader per step kind,
// for parse_scenario (scenario.cpp).
#include <cstddef>

#include <yaml-cpp/yaml.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/scenario.hpp"

namespace haverify::detail {

// steps[index]: one step; its problems go to ctx (file:line:col, key).
Step read_step(const YAML::Node& node, std::size_t index, ConfigContext& ctx);

// `table`: an SQL table name (valid_sql_table), else reported and `fallback`.
std::string read_table(MapReader& r, const std::string& fallback);

}  // namespace haverify::detail
