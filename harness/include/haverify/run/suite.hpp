#pragma once
// The suite's items: the scenario files, their seeded order and shards.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace haverify {

// "i/n" with 1 <= i <= n; nullopt (and *error) otherwise.
std::optional<std::pair<int, int>> parse_shard(const std::string& text, std::string* error);

// The order of a suite's `count` items: identity, or with `shuffle` a
// Fisher-Yates shuffle driven by std::mt19937_64(seed) (reproducible on any
// platform: index = rng() % (i + 1)).
std::vector<std::size_t> seeded_order(std::size_t count, std::uint64_t seed, bool shuffle);

// Whether the item at `position` (in the seeded order) belongs to shard
// `index` of `count`: position % count == index - 1. The shards partition the
// items: every item is in exactly one shard.
bool in_shard(std::size_t position, int index, int count);

// Expands directories to their *.yaml / *.yml files (sorted per directory;
// with `recursive`, in its sub-directories too).
std::vector<std::string> expand_scenario_paths(const std::vector<std::string>& paths, bool recursive = false);

}  // namespace haverify
