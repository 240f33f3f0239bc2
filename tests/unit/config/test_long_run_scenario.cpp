// Long runs, config: the long-run scenario keys (sampler, soak, exec,
// maintenance) and their errors.
#include <catch2/catch.hpp>

#include "haverify/config/config_reader.hpp"
#include "haverify/config/scenario.hpp"

using namespace haverify;
using namespace std::chrono_literals;

TEST_CASE("long-run scenario keys: sampler, soak, exec, maintenance", "[unit]") {
  auto sc = parse_scenario(R"(kind: long-run
sampler: {interval: 2s, processes: [postgres, "name:hv-leak"], memory: rss, warmup: 30s,
          memory_growth_mb_per_hour: 25, min_samples: 5}
workload:
  maintenance: {every: 20s, ops: [vacuum, checkpoint, basebackup], table: haverify_ledger, via: primary,
                basebackup_from: node2, deadline: 5m, bulk_rows: 1000}
steps:
  - start: ledger
  - start: maintenance
  - exec: {id: leak, node: node1, command: "sleep 100", background: true}
  - exec: {node: standby, command: "true", timeout: 5s}
  - maintenance: {op: vacuum_full, table: haverify_bulk, background: true}
  - maintenance: {op: basebackup, from: standby}
  - soak: 10m
  - stop: maintenance
checks:
  failed_writes: {max: 0}
  p99_latency_ms: {max: 50}
  max_rss_slope_mb_h: {max: 25}
)",
                           "lr.yaml");
  REQUIRE(sc.sampler);
  CHECK(sc.sampler->interval == 2s);
  CHECK(sc.sampler->processes == std::vector<std::string>{"postgres", "name:hv-leak"});
  CHECK(sc.sampler->memory == "rss");
  CHECK(sc.sampler->warmup == 30s);
  CHECK(sc.sampler->memory_growth_mb_per_hour == 25);
  CHECK(sc.sampler->min_samples == 5);
  REQUIRE(sc.maintenance);
  CHECK(sc.maintenance->ops == std::vector<std::string>{"vacuum", "checkpoint", "basebackup"});
  CHECK(sc.maintenance->via == "primary");
  CHECK(sc.maintenance->deadline == 5min);
  CHECK(sc.maintenance->bulk_rows == 1000);
  REQUIRE(sc.steps.size() == 8);
  CHECK(sc.steps[2].kind == StepKind::exec);
  CHECK(sc.steps[2].exec.background);
  CHECK(sc.steps[2].exec.id == "leak");
  CHECK(sc.steps[3].exec.timeout == 5s);
  CHECK(sc.steps[4].maintenance.op == "vacuum_full");
  CHECK(sc.steps[4].maintenance.background);
  CHECK(sc.steps[5].maintenance.from == "standby");
  CHECK(sc.steps[6].kind == StepKind::soak);
  CHECK(sc.steps[6].duration == 10min);
  CHECK(sc.has_soak());
  sc.override_soak(2h);
  CHECK(sc.steps[6].duration == 2h);
  CHECK(sc.checks.count("p99_latency_ms"));

  auto plain = parse_scenario("steps: [{wait: 1s}]\n", "p.yaml");
  CHECK_FALSE(plain.sampler);
  CHECK_FALSE(plain.has_soak());
}

TEST_CASE("long-run scenario keys: errors carry their key", "[unit]") {
  auto keys = [](const std::string& yaml) {
    std::vector<std::string> out;
    try {
      parse_scenario(yaml, "bad.yaml");
    } catch (const ConfigError& e) {
      for (const auto& i : e.issues()) out.push_back(i.key);
    }
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  auto k = keys(R"(sampler: {interval: 10ms, processes: [mysql], memory: pss, min_samples: 1, colour: red}
workload: {maintenance: {ops: [defrag], via: pgpool}}
steps:
  - exec: {node: n1}
  - exec: {node: n1, command: x, background: true, timeout: 5s}
  - maintenance: {op: reindex}
  - maintenance: {op: vacuum, from: node2}
  - soak: forever
  - start: pgbench
)");
  CHECK(has(k, "sampler.interval"));
  CHECK(has(k, "sampler.processes"));
  CHECK(has(k, "sampler.memory"));
  CHECK(has(k, "sampler.min_samples"));
  CHECK(has(k, "sampler.colour"));
  CHECK(has(k, "workload.maintenance.ops"));
  CHECK(has(k, "workload.maintenance.via"));
  CHECK(has(k, "steps[0].exec.command"));
  CHECK(has(k, "steps[1].exec.timeout"));
  CHECK(has(k, "steps[2].maintenance.op"));
  CHECK(has(k, "steps[3].maintenance.from"));
  CHECK(has(k, "steps[4].soak"));
  CHECK(has(k, "steps[5].start"));
}
