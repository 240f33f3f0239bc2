#pragma once
// The inventory of a one-node "cluster" on loopback: the throwaway PostgreSQL
// reached over the throwaway sshd, generic driver, a power controller that
// does nothing; and a scenario body for it. For suites run end to end
// without a lab.
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "local_pg.hpp"
#include "local_sshd.hpp"

namespace haverify::testing {

// `pg_log_file`: the node's postgres.log_file (none when empty).
inline void write_loopback_inventory(const std::string& path, const Lab& lab, const LocalPg& pg,
                                     const std::string& pg_log_file = "") {
  const std::string log = pg_log_file.empty() ? "" : fmt::format(", log_file: {}", pg_log_file);
  std::ofstream(path) << fmt::format(R"(name: loopback
stack: loopback
ssh: {{user: root, port: {}, key: {}, known_hosts: {}}}
nodes:
  - name: n1
    ssh: {{host: 127.0.0.1}}
    postgres: {{host: 127.0.0.1, port: {}, user: postgres{}}}
    power: {{controller: command, off: "false", on: "true", verify: none}}
endpoint: {{kind: hostlist, host: 127.0.0.1, port: {}, user: postgres}}
driver: {{type: generic}}
)",
                                     lab.port, lab.client_key.string(), lab.known_hosts.string(), pg.port(), log,
                                     pg.port());
}

// A one-second ledger run, no fault; the caller appends its bounds under `checks:`.
inline constexpr const char* kWritesScenarioBody = R"(kind: normal
converge_timeout: 5s
workload:
  ledger: {clients: 2}
steps:
  - start: ledger
  - wait: 1s
  - stop: ledger
checks:
)";

}  // namespace haverify::testing
