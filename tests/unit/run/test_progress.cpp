// The live progress of a run: what its line says, and plain lines when the
// output is not a terminal.
#include <catch2/catch.hpp>

#include <chrono>
#include <sstream>
#include <thread>

#include "haverify/core/clock.hpp"
#include "haverify/run/progress.hpp"

using namespace haverify;

namespace {
Op op(const char* process, OpType type, const char* f, const char* value, const char* node = "") {
  return make_op(process, type, f, value, node);
}
}  // namespace

TEST_CASE("progress: step n/N, acked writes per second, each node's role, the faults in place", "[unit]") {
  std::ostringstream out;
  ProgressOptions o;
  o.label = "power-off-primary #2";
  o.steps = 7;
  o.plain_every = std::chrono::hours(1);  // the printer stays quiet: line() is read directly
  Progress p(o, out);
  p.on_op(op("runner", OpType::invoke, "step", "start ledger"));
  p.on_op(op("runner", OpType::invoke, "step", "inject power_off primary"));
  for (int i = 0; i < 30; ++i) p.on_op(op("client-1", OpType::ok, "write", "1"));
  p.on_op(op("client-1", OpType::fail, "write", "2"));  // not acknowledged
  p.on_op(op("probe", OpType::ok, "role", "primary", "node1"));
  p.on_op(op("probe", OpType::ok, "role", "standby", "node2"));
  p.on_op(op("probe", OpType::fail, "role", "", "node1"));
  p.on_op(op("nemesis", OpType::ok, "inject", "power_off node1"));
  p.on_op(op("nemesis", OpType::ok, "inject", "lan_cut service node2"));
  p.on_op(op("nemesis", OpType::ok, "heal", "lan_cut service node2"));
  const std::string l = p.line(mono_now_ns());
  INFO(l);
  CHECK(l.rfind("power-off-primary #2 ", 0) == 0);
  CHECK(l.find("| step 2/7 inject power_off primary |") != std::string::npos);
  CHECK(l.find("(30 in all)") != std::string::npos);
  CHECK(l.find("node1 no answer, node2 standby") != std::string::npos);
  CHECK(l.find("faults: power_off node1") != std::string::npos);
  CHECK(l.find("lan_cut") == std::string::npos);  // healed
  // The rate is per interval: nothing acknowledged since the last line.
  const std::string next = p.line(mono_now_ns() + 1'000'000'000);
  CHECK(next.find("| 0 acked/s (30 in all) |") != std::string::npos);
}

TEST_CASE("progress: not on a terminal, a plain line every interval", "[unit]") {
  std::ostringstream out;
  {
    ProgressOptions o;
    o.label = "kill #1";
    o.steps = 3;
    o.plain_every = std::chrono::milliseconds(20);
    Progress p(o, out);
    // Until the printer has written a line (bounded); `out` is read once it stopped.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p.printed() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(p.printed() > 0);
  }
  const std::string text = out.str();
  INFO(text);
  CHECK(text.find("] progress: kill #1 ") != std::string::npos);
  CHECK(text.find('\r') == std::string::npos);  // no redraw escapes in a log
}
