#pragma once
// The `endpoint`, `read_endpoint` and `driver` blocks of an inventory
// (inventory_blocks.cpp), for parse_inventory_node (inventory.cpp).
#include <string>

#include <yaml-cpp/yaml.h>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify::detail {

// A host haverify connects to (an address, a socket directory or a DNS
// name, or a comma-separated list of them); a bad one goes to ctx.
void check_host(ConfigContext& ctx, const YAML::Node& at, const std::string& key, const std::string& hosts);

// `endpoint` (required) and `read_endpoint` (optional).
void read_endpoints(MapReader& top, const YAML::Node& root, ConfigContext& ctx, Inventory& inv);

// `driver`: the cluster manager, its services, restart commands, watchdog.
void read_driver(MapReader& top, ConfigContext& ctx, Inventory& inv);

}  // namespace haverify::detail
