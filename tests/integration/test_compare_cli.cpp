// `haverify compare` as a black box, with a stand-in lab script that records
// its calls (no real lab is touched): exit codes, lab down on every path
// (failed up, failed runs, SIGTERM), --keep-going, and --from offline.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "haverify/core/shell.hpp"
#include "haverify/io/transport.hpp"
#include "reports/results.hpp"

using namespace haverify;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kBin = HAVERIFY_BIN;
const std::string kScenario = std::string(HAVERIFY_SOURCE_DIR) + "/scenarios/single-fault/power-off-primary.yaml";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory with a fake lab: `up --stack bad` fails, `up --stack
// slow` takes 60 s, any other stack "comes up" without writing an inventory
// (so the runs cannot start); `down` always succeeds. Every call is logged.
struct FakeLab {
  fs::path dir;
  fs::path script;
  fs::path calls;
  FakeLab() {
    dir = fs::temp_directory_path() / fmt::format("haverify-it-compare-{}", ::getpid());
    fs::remove_all(dir);
    fs::create_directories(dir / "state");
    script = dir / "fake-lab";
    calls = dir / "calls";
    std::ofstream(script) << "#!/bin/sh\n"
                          << "echo \"$*\" >>" << sh_quote(calls.string()) << "\n"
                          << "case \"$1 $3\" in\n"
                          << "  'up bad') echo 'haverify-lab: ERROR: no such stack' >&2; exit 1 ;;\n"
                          << "  'up slow') sleep 60 ;;\n"
                          << "  up*) touch \"$HAVERIFY_LAB_STATE/up-$3\"; echo \"lab up (stack $3, profile $5)\" ;;\n"
                          << "  down*) echo 'lab down' ;;\n"
                          << "esac\n";
    fs::permissions(script, fs::perms::owner_all);
  }
  ~FakeLab() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  // The environment and common options of a lab-mode compare.
  std::string cmd(const std::string& args) const {
    return fmt::format("HAVERIFY_LAB_STATE={} {} compare {} --lab {} --ledger {} --out {} --lab-down-timeout 30",
                       sh_quote((dir / "state").string()), sh_quote(kBin), args, sh_quote(script.string()),
                       sh_quote((dir / "ledger.json").string()), sh_quote((dir / "out").string()));
  }
  std::string called() const { return fs::exists(calls) ? slurp(calls) : std::string(); }
};

ExecResult sh(const std::string& command, std::chrono::milliseconds deadline = 60s) {
  ExecResult r = LocalTransport{}.exec(command, deadline);
  INFO(command << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.error.empty());
  REQUIRE_FALSE(r.timed_out);
  return r;
}

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_CASE("compare: a missing scenario is a usage error before any lab", "[compare]") {
  FakeLab lab;
  auto r = sh(lab.cmd("--scenario /nonexistent/s.yaml --stacks a,b"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("scenario file /nonexistent/s.yaml does not exist") != std::string::npos);
  CHECK(lab.called().empty());
  CHECK(sh(lab.cmd("--stacks a,b")).exit_code == 2);                                           // no --scenario
  CHECK(sh(lab.cmd(fmt::format("--scenario {} -n 0 --stacks a", kScenario))).exit_code == 2);  // bad -n
  CHECK(lab.called().empty());
}

TEST_CASE("compare: lab down after every up, and a failure stops the comparison", "[compare]") {
  FakeLab lab;
  auto r = sh(lab.cmd(fmt::format("--scenario {} --stacks good,bad -n 2", kScenario)));
  CHECK(r.exit_code == 3);
  CHECK(lab.called() == "up --stack good --profile default\ndown\n");
  CHECK(fs::exists(lab.dir / "state" / "up-good"));  // the script saw compare's HAVERIFY_LAB_STATE
  CHECK(r.err.find("inventory written by lab up") != std::string::npos);
  CHECK(r.err.find("--keep-going") != std::string::npos);
  const std::string log = slurp(lab.dir / "out" / "lab-good.log");
  CHECK(log.find("lab up (stack good, profile default)") != std::string::npos);
  CHECK(log.find("lab down") != std::string::npos);
  CHECK(r.out.find("lab up (stack good, profile default)") != std::string::npos);  // echoed as it came
  const std::string csv = slurp(lab.dir / "out" / "comparison.csv");
  CHECK(lines(csv) == 2);
  // stack, profile, disk (none said), fault (none: no run), scenario, runs, n, n_pass, then 12 empty figures.
  CHECK(csv.find("good,default,,,power-off-primary,0,0,0,,,,,,,,,,,,\r\n") != std::string::npos);
}

TEST_CASE("compare: --keep-going goes on after a lab that does not come up", "[compare]") {
  FakeLab lab;
  auto r = sh(lab.cmd(fmt::format("--scenario {} --stacks bad,good --profile fast --keep-going", kScenario)));
  CHECK(r.exit_code == 3);
  CHECK(lab.called() == "up --stack bad --profile fast\ndown\nup --stack good --profile fast\ndown\n");
  CHECK(r.err.find("lab up --stack bad failed (exit 1)") != std::string::npos);
  CHECK(slurp(lab.dir / "out" / "lab-bad.log").find("no such stack") != std::string::npos);
  CHECK(lines(slurp(lab.dir / "out" / "comparison.csv")) == 3);
  CHECK(slurp(lab.dir / "out" / "comparison.txt").find("bad (fast): no failover measured") != std::string::npos);
}

TEST_CASE("compare: SIGTERM during lab up kills it and still takes the lab down", "[compare]") {
  FakeLab lab;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = sh(fmt::format("{} & p=$!; sleep 1; kill -TERM $p; wait $p; echo rc=$?",
                          lab.cmd(fmt::format("--scenario {} --stacks slow,good", kScenario))));
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
  CHECK(r.out.find("rc=3") != std::string::npos);
  CHECK(lab.called() == "up --stack slow --profile default\ndown\n");
  CHECK(r.err.find("every lab was taken down") != std::string::npos);
}

TEST_CASE("compare --from: offline comparison of results.csv files", "[compare]") {
  FakeLab lab;
  auto write = [&](const std::string& name, const std::string& stack, std::vector<double> failovers,
                   const std::string& verdict) {
    std::vector<reports::RunRow> rows;
    for (double f : failovers) {
      reports::RunRow r;
      r.scenario = "power-off-primary";
      r.stack = stack;
      r.profile = "default";
      r.fault = "power_off";
      r.metrics.failover_s = f;
      r.verdict = verdict;
      rows.push_back(r);
    }
    const auto path = (lab.dir / name).string();
    reports::write_results_csv(path, rows);
    return path;
  };
  const auto a = write("a.csv", "pgrex", {4.0, 4.2, 3.9, 4.1}, "pass");
  const auto b = write("b.csv", "shared-disk", {4.6, 4.8, 4.5, 4.7}, "pass");
  const auto out = (lab.dir / "from").string();
  auto r = sh(fmt::format("{} compare --from {},{} --seed 5 --out {}", kBin, a, b, out));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("shared-disk (default): median failover 4.65 s (n=4, 4/4 pass") != std::string::npos);
  CHECK(r.out.find("1.15× pgrex [95% CI ") != std::string::npos);
  const std::string first = slurp(fs::path(out) / "comparison.csv");
  // Reproducible: the same seed gives the same file.
  CHECK(sh(fmt::format("{} compare --from {},{} --seed 5 --out {}", kBin, a, b, out)).exit_code == 0);
  CHECK(slurp(fs::path(out) / "comparison.csv") == first);

  const auto c = write("c.csv", "bad", {9.0}, "fail");
  CHECK(sh(fmt::format("{} compare --from {},{} --out {}", kBin, a, c, out)).exit_code == 1);
  CHECK(sh(fmt::format("{} compare --from {},/nonexistent.csv --out {}", kBin, a, out)).exit_code == 2);
  CHECK(sh(fmt::format("{} compare --from {} --stacks x", kBin, a)).exit_code == 2);
  CHECK(lab.called().empty());
}
