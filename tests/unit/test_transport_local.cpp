// LocalTransport: exit codes, stream separation, big outputs, deadlines.
// Timings are only checked against generous sanity bounds.
#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "haverify/io/transport.hpp"

using namespace std::chrono_literals;
using haverify::ExecResult;
using haverify::LocalTransport;

namespace {
// Alive = exists and is not a zombie (an orphan killed with the group waits
// for PID 1 to reap it, which can be slow in containers).
bool pid_alive(long pid) {
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() || line[close_paren + 2] != 'Z';
}
}  // namespace

TEST_CASE("local: describe", "[unit]") {
  CHECK(LocalTransport{}.describe() == "local");
}

TEST_CASE("local: exit codes are data", "[unit]") {
  LocalTransport t;
  ExecResult ok = t.exec("true", 5s);
  CHECK(ok.ok());
  CHECK(ok.exit_code == 0);
  CHECK(ok.error.empty());
  CHECK_FALSE(ok.timed_out);

  ExecResult three = t.exec("exit 3", 5s);
  CHECK_FALSE(three.ok());
  CHECK(three.exit_code == 3);
  CHECK(three.error.empty());
  CHECK_FALSE(three.timed_out);

  ExecResult missing = t.exec("/nonexistent/command/xyz", 5s);
  CHECK(missing.exit_code == 127);
  CHECK(missing.error.empty());
  CHECK_FALSE(missing.err.empty());
}

TEST_CASE("local: killed by a signal reports 128+N", "[unit]") {
  LocalTransport t;
  ExecResult r = t.exec("kill -KILL $$", 5s);
  CHECK(r.exit_code == 128 + 9);
  CHECK(r.exit_signal == "KILL");
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("local: stdout and stderr are separate", "[unit]") {
  LocalTransport t;
  ExecResult r = t.exec("printf 'to-out\\n'; printf 'to-err\\n' >&2; printf more", 5s);
  CHECK(r.ok());
  CHECK(r.out == "to-out\nmore");
  CHECK(r.err == "to-err\n");
}

TEST_CASE("local: stdin is /dev/null", "[unit]") {
  LocalTransport t;
  ExecResult r = t.exec("cat", 5s);  // would hang if stdin were inherited
  CHECK(r.ok());
  CHECK(r.out.empty());
}

TEST_CASE("local: big outputs on both streams do not deadlock", "[unit]") {
  LocalTransport t;
  // 5 MB on stdout and 3 MB on stderr, interleaved: a naive sequential reader
  // would block on one full pipe while the child blocks on the other.
  ExecResult r = t.exec(
      "head -c 3000000 /dev/zero | tr '\\0' e >&2 & "
      "head -c 5000000 /dev/zero | tr '\\0' o; wait",
      30s);
  REQUIRE(r.ok());
  CHECK(r.out.size() == 5000000);
  CHECK(r.err.size() == 3000000);
  CHECK(r.out.find_first_not_of('o') == std::string::npos);
  CHECK(r.err.find_first_not_of('e') == std::string::npos);
  CHECK(r.elapsed < 20s);
}

TEST_CASE("local: deadline kills the command and its process group", "[unit]") {
  LocalTransport t;
  // The shell prints the pid of a background sleep (same process group), then
  // blocks. Both must be gone after the deadline.
  auto t0 = std::chrono::steady_clock::now();
  ExecResult r = t.exec("sleep 10 & echo $!; echo $$; sleep 10", 300ms);
  auto wall = std::chrono::steady_clock::now() - t0;
  CHECK(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(r.exit_code == -1);
  CHECK(r.error.empty());
  CHECK(wall < 3s);           // generous sanity bound for a 300 ms deadline
  CHECK(r.elapsed >= 250ms);  // it did wait for (about) the deadline

  std::vector<long> pids;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    auto nl = r.out.find('\n', pos);
    if (nl == std::string::npos) break;
    pids.push_back(std::stol(r.out.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  REQUIRE(pids.size() == 2);
  // The shell was reaped by exec(); the background sleep was killed with the
  // group (a zombie until PID 1 reaps it). Allow a moment for the kill.
  for (int i = 0; i < 100 && (pid_alive(pids[0]) || pid_alive(pids[1])); ++i) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pid_alive(pids[0]));
  CHECK_FALSE(pid_alive(pids[1]));
}

TEST_CASE("local: a child that closes its output still honours the deadline", "[unit]") {
  LocalTransport t;
  ExecResult r = t.exec("exec >/dev/null 2>&1; sleep 10", 300ms);
  CHECK(r.timed_out);
  CHECK(r.elapsed < 3s);
}

TEST_CASE("local: a background process holding the pipes does not block exec", "[unit]") {
  LocalTransport t;
  // The shell exits at once but leaves a process with our stdout open.
  ExecResult r = t.exec("sleep 5 & echo $!", 10s);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.elapsed < 3s);
  REQUIRE_FALSE(r.out.empty());
  const long pid = std::stol(r.out);
  CHECK(pid_alive(pid));  // intentionally left running: exec only kills on deadline
  ::kill(static_cast<pid_t>(pid), SIGKILL);
}

TEST_CASE("local: concurrent execs on one transport", "[unit]") {
  LocalTransport t;
  std::vector<std::thread> threads;
  std::vector<ExecResult> results(8);
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = t.exec("echo " + std::to_string(i), 10s); });
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].ok());
    CHECK(results[i].out == std::to_string(i) + "\n");
  }
}

TEST_CASE("local: on_output sees both streams as they arrive", "[unit]") {
  std::string seen;
  LocalTransport t(LocalTransport::Hooks{[&seen](std::string_view chunk) { seen.append(chunk); }, nullptr});
  ExecResult r = t.exec("echo out; echo err >&2; sleep 0.05; echo more", 5s);
  CHECK(r.ok());
  CHECK(r.out == "out\nmore\n");
  CHECK(r.err == "err\n");
  CHECK(seen.find("out\n") != std::string::npos);
  CHECK(seen.find("err\n") != std::string::npos);
  CHECK(seen.find("more\n") != std::string::npos);
  CHECK(seen.size() == r.out.size() + r.err.size());
}

TEST_CASE("local: interrupted kills the command's group at once", "[unit]") {
  const auto t0 = std::chrono::steady_clock::now();
  LocalTransport t(LocalTransport::Hooks{nullptr, [t0] { return std::chrono::steady_clock::now() - t0 > 200ms; }});
  ExecResult r = t.exec("echo $$; sleep 30 & wait", 20s);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 5s);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == -1);
  CHECK(r.error.find("interrupted") != std::string::npos);
  const long pid = std::stol(r.out);
  for (int i = 0; i < 100 && pid_alive(pid); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(pid_alive(pid));
}

TEST_CASE("local: the child starts with no signal blocked", "[unit]") {
  // The CLI blocks SIGINT/SIGTERM in every thread (cancel.cpp); children must not inherit that.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  ExecResult r = LocalTransport{}.exec("exec grep SigBlk /proc/self/status", 5s);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(r.ok());
  CHECK(r.out.find("0000000000000000") != std::string::npos);
}
