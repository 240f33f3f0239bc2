// `haverify collect --since T [--until T] --out DIR`: the log bundle of a
// run (cluster/log_bundle.hpp), gathered by hand from every node.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "haverify/cluster/detect.hpp"
#include "haverify/cluster/log_bundle.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/config_reader.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/run/lab.hpp"

namespace haverify::cli {

namespace {

struct CollectCli {
  std::string inventory = lab_inventory_path();
  std::string since, until, out;
  int deadline_s = 120;
};

// A moment: a duration ago ("15m", "90s") or a timestamp ("2026-12-07T09:10:11Z",
// "2026-12-07 09:10:11 UTC"; local time without a zone). Throws UsageError.
Nanos parse_moment(const std::string& what, const std::string& text) {
  const Nanos now = wall_now_ns();
  if (const auto d = parse_duration(text)) return now - static_cast<Nanos>(d->count()) * 1'000'000;
  if (const auto t = parse_log_time(text, now)) return *t;
  throw UsageError(
      fmt::format("haverify collect: {} '{}': expected a duration ago (15m, 90s) or a timestamp "
                  "(2026-12-07T09:10:11Z)",
                  what, text));
}

int collect_command(const CollectCli& c) {
  LogBundleOptions o;
  o.since_wall = parse_moment("--since", c.since);
  o.until_wall = c.until.empty() ? 0 : parse_moment("--until", c.until);
  if (o.until_wall && o.until_wall < o.since_wall) throw UsageError("haverify collect: --until is before --since");
  o.deadline = std::chrono::seconds(c.deadline_s);
  const Inventory inv = load_inventory(c.inventory);
  TransportPool pool(inv);
  const auto r = collect_logs(inv, pool, c.out, o);
  std::cout << fmt::format("{} log slice(s) in {} (from {})\n", r.files, c.out, format_wall_ns(o.since_wall));
  for (const auto& n : r.notes) std::cout << "  " << n << "\n";
  return exit_code(r.files > 0 ? ExitStatus::pass : ExitStatus::verdict_failed);
}

}  // namespace

void add_collect(CLI::App& app, Commands& out) {
  auto c = std::make_shared<CollectCli>();
  auto* cmd = app.add_subcommand(
      "collect", "Every node's PostgreSQL and cluster-manager log slices from --since on, into --out/<node>/");
  cmd->add_option("--since", c->since, "a timestamp (2026-12-07T09:10:11Z) or a duration ago (15m)")->required();
  cmd->add_option("--until", c->until, "the slices' end (default: now)");
  cmd->add_option("--out", c->out, "the bundle's folder")->required();
  cmd->add_option("--inventory,-i", c->inventory, "inventory file (default: the embedded lab's)");
  cmd->add_option("--deadline", c->deadline_s, "seconds for the whole collection")->check(CLI::Range(1, 3600));
  out.push_back({cmd, [c] { return collect_command(*c); }});
}

}  // namespace haverify::cli
