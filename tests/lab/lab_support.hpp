#pragma once
// Shared by the real-lab tests: running haverify and the lab script, reading
// their outputs, and the scenarios the tests write.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

// fast-cpp-csv-parser is a third-party header: keep -Werror for our code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-truncation"
#include <libfccp/csv.h>
#pragma GCC diagnostic pop

#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/cluster/health.hpp"
#include "haverify/cluster/observe.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/pg.hpp"
#include "haverify/io/transport.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/suite.hpp"

namespace fs = std::filesystem;
namespace bp = boost::process;
using namespace haverify;
using namespace std::chrono_literals;

namespace labtest {

inline const std::string kBin = HAVERIFY_BIN;
inline const std::string kSrc = HAVERIFY_SOURCE_DIR;

inline std::string state_dir() {
  const char* s = std::getenv("HAVERIFY_LAB_STATE");
  return s && *s ? s : "/var/lib/haverify-lab";
}
inline std::string inventory_path() {
  return state_dir() + "/inventory.yaml";
}

inline ExecResult sh(const std::string& cmd, std::chrono::milliseconds deadline = 600s) {
  LocalTransport t;
  return t.exec(cmd, deadline);
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / fmt::format("haverify-labtest-{}-{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline std::string lab(const std::string& args) {
  return fmt::format("{} lab {}", sh_quote(kBin), args);
}

// The state of an interface inside a lab node: true if administratively up.
inline bool link_up(const std::string& node, const std::string& ifname) {
  auto r = sh(lab(fmt::format("exec {} -- ip -o link show dev {}", node, ifname)), 20s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return std::regex_search(r.out, std::regex("[<,]UP[,>]"));
}

// Picks the current standby (a node answering pg_is_in_recovery() = true).
inline std::string some_standby(const Inventory& inv) {
  for (const auto& s : probe_all(inv, 2000ms))
    if (s.role == Role::standby) return s.node;
  FAIL("no standby in the lab");
  return {};
}

// A scenario that cuts one standby's service LAN for a long time.
inline fs::path write_long_cut_scenario(const fs::path& dir, const std::string& node) {
  fs::path p = dir / "long-cut.yaml";
  std::ofstream(p) << fmt::format(R"(name: long-cut
kind: single-fault
steps:
  - start: ledger
  - inject: {{id: cut, fault: lan_cut, lan: service, method: link, target: {}}}
  - wait: 5m
  - heal: cut
)",
                                  node);
  return p;
}

// Starts haverify in the background and waits until the cut is in place.
inline bp::child start_cut_run(const fs::path& dir, const fs::path& scenario, const std::string& node) {
  bp::child c(kBin, "run", scenario.string(), "--inventory", inventory_path(), "--out", (dir / "out").string(),
              bp::std_out > (dir / "stdout.txt").string(), bp::std_err > (dir / "stderr.txt").string(),
              bp::env["HAVERIFY_LEDGER"] = (dir / "ledger.json").string());
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < until && c.running()) {
    if (fs::exists(dir / "ledger.json") && !link_up(node, "svc0")) return c;
    std::this_thread::sleep_for(200ms);
  }
  INFO(slurp(dir / "stdout.txt") << slurp(dir / "stderr.txt"));
  FAIL("the LAN cut never took effect");
  return c;
}

// A stack's lab, brought up with --profile fast and always taken down.
struct StackLab {
  // disk: lab up --disk (empty: the lab's default); extra: more options of lab up.
  explicit StackLab(const std::string& stack, const std::string& disk = "", const std::string& extra = "") {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string args =
        fmt::format("up --stack {} --profile fast{}{}", stack, disk.empty() ? "" : " --disk " + disk, extra);
    auto up = sh(lab(args), 600s);
    INFO(up.out << up.err);
    REQUIRE(up.exit_code == 0);
    WARN(fmt::format("lab {}: {:.1f} s", args,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  }
  ~StackLab() { sh(lab("down"), 300s); }
};

struct ResultRow {
  std::string scenario, t_inject_sent, t_first_write, failover_s, lost_acked, acked_total, split_brain_windows,
      checkers, verdict, reason, run_dir;
};

// Reads results.csv with the CSV library (quoted fields, commas inside reasons).
inline std::map<std::string, std::vector<ResultRow>> read_results(const fs::path& p) {
  io::CSVReader<11, io::trim_chars<>, io::double_quote_escape<',', '"'>> in(p.string());
  in.read_header(io::ignore_extra_column, "scenario", "t_inject_sent", "t_first_write", "failover_s", "lost_acked",
                 "acked_total", "split_brain_windows", "checkers", "verdict", "reason", "run_dir");
  std::map<std::string, std::vector<ResultRow>> out;
  ResultRow r;
  while (in.read_row(r.scenario, r.t_inject_sent, r.t_first_write, r.failover_s, r.lost_acked, r.acked_total,
                     r.split_brain_windows, r.checkers, r.verdict, r.reason, r.run_dir))
    out[r.scenario].push_back(r);
  return out;
}

inline fs::path run_scenarios(const fs::path& out, const std::string& what, const std::string& extra = "",
                              std::chrono::seconds deadline = 1200s) {
  auto r = sh(fmt::format("cd {} && HAVERIFY_LEDGER={} {} run {} --inventory {} --out {} --seed 7 {}", sh_quote(kSrc),
                          sh_quote((out / "ledger.json").string()), sh_quote(kBin), what, sh_quote(inventory_path()),
                          sh_quote((out / "suite").string()), extra),
              deadline);
  INFO(r.out << r.err);
  CHECK((r.exit_code == 0 || r.exit_code == 1));  // verdicts, not a harness or usage error
  CHECK_FALSE(fs::exists(out / "ledger.json"));   // every fault healed
  return out / "suite" / "results.csv";
}

// The one health rule (cluster/health.hpp) on the lab: one primary, every
// other node a standby streaming from it, the manager counting every node in.
// Waits up to `deadline` for it.
inline void require_lab_healthy(std::chrono::seconds deadline) {
  const Inventory inv = load_inventory(inventory_path());
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{rejoin_script_for(inv)});
  const auto until = std::chrono::steady_clock::now() + deadline;
  Health h;
  do {
    h = assess_health(observe_cluster(inv, *driver));
    if (h.ok()) return;
    std::this_thread::sleep_for(1s);
  } while (std::chrono::steady_clock::now() < until);
  FAIL("the lab is not healthy after " << deadline.count() << " s: " << h.why());
}

}  // namespace labtest
