// Barrier injection against the loopback sshd: the faults of one step are
// released together and the spread of their send times is recorded. The
// faults are SIGKILLs of throwaway `sleep` processes of this test (selected by
// pidfile), so nothing of the host is touched. No timing bound is asserted
// here: timings belong to bench/injection-skew.sh.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/history.hpp"
#include "local_sshd.hpp"

using namespace std::chrono_literals;
using haverify::testing::Lab;

namespace {

// A `sleep 300` child with its pid in a pidfile; a thread reaps it as soon as
// it dies (a zombie would still answer `kill -0`).
class Sleeper {
 public:
  explicit Sleeper(const std::filesystem::path& pidfile) : pidfile_(pidfile.string()) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sleep", "sleep", "300", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
    std::ofstream(pidfile_) << pid_ << "\n";
    reaper_ = std::thread([this] {
      int st = 0;
      if (::waitpid(pid_, &st, 0) == pid_) killed_ = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
      reaped_ = true;
    });
  }
  ~Sleeper() {
    if (!reaped_) ::kill(pid_, SIGKILL);
    reaper_.join();
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;
  std::string selector() const { return "pidfile:" + pidfile_; }
  bool killed() const { return killed_; }

 private:
  std::string pidfile_;
  pid_t pid_ = -1;
  std::thread reaper_;
  std::atomic<bool> reaped_{false};
  std::atomic<bool> killed_{false};
};

haverify::Inventory loopback_inventory(const Lab& lab, const std::vector<std::string>& names) {
  haverify::Inventory inv;
  inv.file = "loopback";
  for (const auto& n : names) {
    haverify::NodeSpec node;
    node.name = n;
    node.ssh = lab.target();
    inv.nodes.push_back(node);
  }
  return inv;
}

haverify::FaultSpec kill_spec(const Sleeper& s, const std::string& node) {
  haverify::FaultSpec f;
  f.kind = "process_kill";
  f.process = s.selector();
  f.signal = "KILL";
  f.targets = {node};
  return f;
}

}  // namespace

TEST_CASE("injector: the faults of one step are released at one barrier and the skew is recorded", "[ssh]") {
  Lab lab;
  const auto inv = loopback_inventory(lab, {"n1", "n2", "n3"});
  Sleeper a(lab.dir.path / "a.pid"), b(lab.dir.path / "b.pid"), c(lab.dir.path / "c.pid");
  haverify::TransportPool pool(inv);
  haverify::faults::FaultLedger ledger((lab.dir.path / "ledger.json").string());
  haverify::History history;
  std::optional<double> skew;
  {
    haverify::faults::FaultInjector injector(inv, pool, ledger, history, "it", 10000ms);
    skew = injector.inject_step(
        {{"k1", kill_spec(a, "n1"), {"n1"}}, {"k2", kill_spec(b, "n2"), {"n2"}}, {"k3", kill_spec(c, "n3"), {"n3"}}});
  }
  INFO("sshd log:\n" << haverify::testing::slurp(lab.log));
  CHECK(a.killed());
  CHECK(b.killed());
  CHECK(c.killed());
  REQUIRE(skew.has_value());
  CHECK(std::isfinite(*skew));
  CHECK(*skew >= 0.0);

  const auto ops = history.snapshot();
  int invokes = 0, oks = 0, verified = 0, skew_events = 0;
  for (const auto& op : ops) {
    if (op.process != "nemesis") continue;
    if (op.f == "inject" && op.type == haverify::OpType::invoke) ++invokes;
    if (op.f == "inject" && op.type == haverify::OpType::ok) ++oks;
    if (op.f == "verify" && op.type == haverify::OpType::ok) ++verified;
    if (op.f == "injection_skew") ++skew_events;
  }
  CHECK(invokes == 3);  // each action records its own t_inject_sent
  CHECK(oks == 3);
  CHECK(verified == 3);
  CHECK(skew_events == 1);
  const auto m = haverify::compute_metrics(ops, std::nullopt);
  REQUIRE(m.value("injection_skew_ms").has_value());
  CHECK(std::isfinite(*m.value("injection_skew_ms")));
  CHECK(m.t_inject_sent.has_value());
}

TEST_CASE("injector: two faults of one step on the same node use two sessions", "[ssh]") {
  Lab lab;
  const auto inv = loopback_inventory(lab, {"n1"});
  Sleeper a(lab.dir.path / "a.pid"), b(lab.dir.path / "b.pid");
  haverify::TransportPool pool(inv);
  haverify::faults::FaultLedger ledger((lab.dir.path / "ledger.json").string());
  haverify::History history;
  haverify::faults::FaultInjector injector(inv, pool, ledger, history, "it", 10000ms);
  const auto skew = injector.inject_step({{"k1", kill_spec(a, "n1"), {"n1"}}, {"k2", kill_spec(b, "n1"), {"n1"}}});
  CHECK(a.killed());
  CHECK(b.killed());
  REQUIRE(skew.has_value());
  CHECK(std::isfinite(*skew));
}

TEST_CASE("injector: a step whose action fails still records every send and throws", "[ssh]") {
  Lab lab;
  const auto inv = loopback_inventory(lab, {"n1", "n2"});
  Sleeper a(lab.dir.path / "a.pid");
  haverify::FaultSpec missing;
  missing.kind = "process_kill";
  missing.process = "pidfile:" + (lab.dir.path / "no-such.pid").string();
  missing.targets = {"n2"};
  haverify::TransportPool pool(inv);
  haverify::faults::FaultLedger ledger((lab.dir.path / "ledger.json").string());
  haverify::History history;
  haverify::faults::FaultInjector injector(inv, pool, ledger, history, "it", 10000ms);
  CHECK_THROWS_WITH(injector.inject_step({{"k1", kill_spec(a, "n1"), {"n1"}}, {"k2", missing, {"n2"}}}),
                    Catch::Contains("injecting process_kill") && Catch::Contains("no running process from pidfile"));
  CHECK(a.killed());
  int invokes = 0, fails = 0;
  for (const auto& op : history.snapshot()) {
    if (op.f == "inject" && op.type == haverify::OpType::invoke) ++invokes;
    if (op.f == "inject" && op.type == haverify::OpType::fail) ++fails;
  }
  CHECK(invokes == 2);
  CHECK(fails == 1);
}
