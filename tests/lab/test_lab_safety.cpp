// Real-lab tests of haverify's own safety (issue 14, items 8 and 9): a suite
// survives kill -9 of haverify at any point (`haverify heal`, then
// `haverify run --resume DIR`), and no packet of the lab (198.18.0.0/15)
// leaves the machine while faults are injected.
#include <sys/types.h>

#include <functional>

#include "haverify/run/runner.hpp"
#include "lab_support.hpp"
#include "reports/results_read.hpp"

using namespace labtest;

namespace {

// A short scenario with one fault on the primary: a power-off (a fault in
// place, a heal, a recover: the phases the kill points need), or a kill -9 of
// its postmaster.
std::string short_scenario(const std::string& name, bool power_off) {
  const std::string fault = power_off
                                ? "{id: f, fault: power_off, target: primary}"
                                : "{id: f, fault: process_kill, process: postmaster, signal: KILL, target: primary}";
  return fmt::format(R"(name: {}
kind: single-fault
workload:
  ledger: {{clients: 2, connect_deadline: 3s, commit_deadline: 3s}}
steps:
  - start: ledger
  - wait: 2s
  - inject: {}
  - await_writes: {{timeout: 60s}}
{}  - recover: {{timeout: 120s}}
  - stop: ledger
checks:
  lost_acked: {{max: 0}}
)",
                     name, fault, power_off ? "  - wait: 3s\n  - heal: f\n" : "");
}

// haverify started by this test; SIGKILLed (by its pid) if the test ends first.
struct Haverify {
  bp::child c;
  Haverify(const fs::path& dir, const std::string& tag, const std::vector<std::string>& args, const fs::path& ledger)
      : c(kBin, args, bp::start_dir = kSrc, bp::std_out > (dir / (tag + ".out")).string(),
          bp::std_err > (dir / (tag + ".err")).string(), bp::env["HAVERIFY_LEDGER"] = ledger.string()) {}
  Haverify(const Haverify&) = delete;
  Haverify& operator=(const Haverify&) = delete;
  ~Haverify() {
    if (c.running()) ::kill(c.id(), SIGKILL);
    std::error_code ec;
    c.wait(ec);
  }
  // Polls `ready` every 20 ms: true when it holds, false when haverify ended or `deadline` passed.
  bool wait_until(std::chrono::seconds deadline, const std::function<bool()>& ready) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until && c.running()) {
      if (ready()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  void kill9() {
    REQUIRE(::kill(c.id(), SIGKILL) == 0);
    c.wait();
  }
};

// The run directory of the suite's run number `n` ("" if not there yet).
std::string run_dir(const fs::path& suite, int n) {
  const std::string prefix = fmt::format("{:02}-", n);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(suite, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return e.path().string();
  return {};
}

void heal(const fs::path& ledger) {
  auto r = sh(fmt::format("{} heal --ledger {}", sh_quote(kBin), sh_quote(ledger.string())), 120s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(fs::exists(ledger));
}

// After a kill: results.csv holds only complete rows (it is written whole).
std::size_t complete_rows(const fs::path& results) {
  const auto back = reports::read_results_rows(results.string());
  CHECK(back.incomplete == 0);
  CHECK(back.duplicates == 0);
  return back.rows.size();
}

void write_crash_plan(const fs::path& dir) {
  std::ofstream(dir / "a.yaml") << short_scenario("a", true);
  std::ofstream(dir / "b.yaml") << short_scenario("b", true);
  std::ofstream(dir / "c.yaml") << short_scenario("c", false);
  std::ofstream(dir / "plan.csv")
      << "id,kind,fault,target_role,lan,process,expected,bounds,scenario_file,verdict,failover_s,lost_acked,reason,"
         "run_dir,seed\r\n"
         "crash-a,single-fault,power_off,primary,,,failover,,a.yaml,,,,,,\r\n"
         "crash-b,single-fault,power_off,primary,,,failover,,b.yaml,,,,,,\r\n"
         "crash-c,single-fault,process_kill,primary,,postmaster,failover-or-restart,,c.yaml,,,,,,\r\n";
}

}  // namespace

// Issue 14, item 8. One suite of three runs, killed three times: (1) while
// run 1's power-off is in place, (2) while run 2 recovers (its fault healed,
// its row not written), (3) when run 3's reports are being written. After
// each kill: `haverify heal`, then `run --resume` goes on. The suite was
// started with --repair-at-setup: a run killed mid-fault leaves the old
// primary powered on but not rejoined, and the rerun's setup repairs it.
TEST_CASE("kill -9 of haverify during inject, recover and report writing, then heal and run --resume finish the suite",
          "[lab]") {
  const fs::path dir = fresh_dir("resume");
  write_crash_plan(dir);
  const fs::path suite = dir / "suite", ledger = dir / "ledger.json", results = suite / "results.csv";
  const std::vector<std::string> resume = {"run", "--resume", suite.string()};
  {
    Haverify h(dir, "1",
               {"run", "--plan", (dir / "plan.csv").string(), "--inventory", inventory_path(), "--out", suite.string(),
                "--seed", "7", "--repair-at-setup"},
               ledger);
    REQUIRE(h.wait_until(120s, [&] { return fs::exists(ledger); }));
    // The ledger is written before the inject command runs, and a SIGKILLed haverify leaves
    // that command running: let the power-off finish, or heal races it (and loses).
    std::this_thread::sleep_for(2s);
    h.kill9();
    CHECK(complete_rows(results) == 0);
    heal(ledger);
  }
  {
    Haverify h(dir, "2", resume, ledger);
    bool faulted = false;
    REQUIRE(h.wait_until(300s, [&] {
      if (run_dir(suite, 2).empty()) return false;
      if (fs::exists(ledger)) faulted = true;
      return faulted && !fs::exists(ledger) && !fs::exists(run_dir(suite, 2) + "/checkers.txt");
    }));
    h.kill9();
    CHECK(complete_rows(results) == 1);
    heal(ledger);
  }
  {
    Haverify h(dir, "3", resume, ledger);
    REQUIRE(h.wait_until(300s, [&] {
      const auto d = run_dir(suite, 3);
      return !d.empty() && fs::exists(d + "/checkers.txt");
    }));
    h.kill9();
    CHECK(complete_rows(results) >= 2);
    heal(ledger);
  }
  auto r =
      sh(fmt::format("cd {} && {} run --resume {}", sh_quote(kSrc), sh_quote(kBin), sh_quote(suite.string())), 600s);
  INFO(r.out << r.err << slurp(dir / "1.err") << slurp(dir / "2.err") << slurp(dir / "3.err"));
  const auto rows = read_results(results);
  std::vector<std::string> verdicts;
  for (const char* id : {"crash-a", "crash-b", "crash-c"}) {
    REQUIRE(rows.count(id) == 1);
    CHECK(rows.at(id).size() == 1);
    verdicts.push_back(rows.at(id).front().verdict);
    WARN(fmt::format("{}: {} ({})", id, rows.at(id).front().verdict, rows.at(id).front().reason));
  }
  CHECK(r.exit_code == exit_code_for_verdicts(verdicts));
  CHECK((r.exit_code == 0 || r.exit_code == 1));
  CHECK_FALSE(fs::exists(ledger));
  CHECK(complete_rows(results) == 3);
  // The killed runs' directories were moved aside, and rerun in place.
  CHECK(fs::is_directory(suite / "interrupted" / fs::path(run_dir(suite, 1)).filename()));
  CHECK(fs::is_directory(suite / "interrupted" / fs::path(run_dir(suite, 2)).filename()));
  // The plan sheet agrees with results.csv, row for row.
  const std::string sheet = slurp(dir / "plan.csv");
  for (const auto& [id, rs] : rows) {
    INFO(sheet);
    CHECK(sheet.find(id + ",") != std::string::npos);
    CHECK(sheet.find("," + rs.front().verdict + ",") != std::string::npos);
    CHECK(sheet.find(rs.front().run_dir) != std::string::npos);
  }
  CHECK(slurp(suite / "junit.xml").find("tests=\"3\"") != std::string::npos);
  require_lab_healthy(120s);
}

namespace {

// The root network namespace's interfaces: name -> ifindex.
std::map<std::string, int> root_interfaces() {
  std::map<std::string, int> out;
  for (const auto& e : fs::directory_iterator("/sys/class/net"))
    out[e.path().filename().string()] = std::stoi(slurp(e.path() / "ifindex"));
  return out;
}

bool lab_interface(const std::string& name) {
  return name == "lo" || name.rfind("hvl-", 0) == 0;  // lab/lib/network.sh: every bridge and veth is hvl-*
}

// tcpdump on every interface of the root namespace ("any"), for packets to or
// from the lab's addresses, leaving out the interfaces in `excluded` (in the
// kernel's filter, by ifindex). Fails the test if the capture does not start.
struct Capture {
  fs::path out, err;
  std::optional<bp::child> c;
  Capture(const fs::path& dir, const std::string& tag, const std::vector<int>& excluded, const std::string& count,
          std::chrono::seconds start_deadline)
      : out(dir / (tag + ".txt")), err(dir / (tag + ".err")) {
    std::string filter = "net 198.18.0.0/15";
    std::string not_in;
    for (int i : excluded) not_in += fmt::format("{}ifindex {}", not_in.empty() ? "" : " or ", i);
    if (!not_in.empty()) filter += " and not (" + not_in + ")";
    const auto tcpdump = bp::search_path("tcpdump");
    INFO("lab/install-deps.sh installs tcpdump");
    REQUIRE_FALSE(tcpdump.empty());
    std::vector<std::string> args = {"-i", "any", "-n", "-q", "-l"};
    if (!count.empty()) args.insert(args.end(), {"-c", count});
    args.push_back(filter);
    c.emplace(tcpdump, args, bp::std_out > out.string(), bp::std_err > err.string());
    const auto until = std::chrono::steady_clock::now() + start_deadline;
    while (slurp(err).find("listening on any") == std::string::npos) {
      INFO("tcpdump " << filter << ": " << slurp(err));
      REQUIRE(c->running());
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(50ms);
    }
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  ~Capture() {
    if (c && c->running()) ::kill(c->id(), SIGKILL);
    std::error_code ec;
    if (c) c->wait(ec);
  }
  // Ends the capture (SIGINT, by pid, if still running); its lines, one a packet.
  std::vector<std::string> stop(std::chrono::seconds deadline) {
    if (c->running()) ::kill(c->id(), SIGINT);
    std::error_code ec;
    REQUIRE(c->wait_for(deadline, ec));
    INFO(slurp(err));
    CHECK(slurp(err).find("\n0 packets dropped by kernel") != std::string::npos);
    std::vector<std::string> lines;
    std::istringstream in(slurp(out));
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) lines.push_back(l);
    return lines;
  }
};

// "14:56:47.700364 eth0  Out IP 198.18.1.11.5432 > ..." -> eth0
std::string packet_interface(const std::string& line) {
  std::istringstream in(line);
  std::string time, name;
  in >> time >> name;
  return name;
}

}  // namespace

// Issue 14, item 9. While a suite cuts a LAN and powers a node off, no packet
// to or from 198.18.0.0/15 is seen on any interface of the root namespace but
// lo and the lab's own (hvl-*). The control, the same capture with the
// service bridge hvl-svc let through, must see the lab's packets: it proves
// the capture path and the filter see such traffic.
TEST_CASE("no packet to or from the lab's addresses leaves the machine during a suite with faults", "[lab]") {
  const fs::path dir = fresh_dir("contain");
  const auto inv = load_inventory(inventory_path());
  std::ofstream(dir / "contain.yaml") << fmt::format(R"(name: contain
kind: multi-fault
workload:
  ledger: {{clients: 2, connect_deadline: 3s, commit_deadline: 3s}}
steps:
  - start: ledger
  - wait: 2s
  - inject: {{id: cut, fault: lan_cut, lan: service, method: link, target: {}}}
  - wait: 3s
  - heal: cut
  - inject: {{id: power, fault: power_off, target: primary}}
  - await_writes: {{timeout: 60s}}
  - wait: 2s
  - heal: power
  - recover: {{timeout: 120s}}
  - stop: ledger
)",
                                                     some_standby(inv));
  std::vector<int> lab_ifs, control_ifs;
  std::string outside;
  for (const auto& [name, index] : root_interfaces()) {
    if (!lab_interface(name)) {
      outside += name + " ";
      continue;
    }
    lab_ifs.push_back(index);
    if (name != "hvl-svc") control_ifs.push_back(index);
  }
  REQUIRE(lab_ifs.size() > 1);  // lo and the lab's bridges: the lab is up
  Capture control(dir, "control", control_ifs, "20", 10s);
  Capture leaks(dir, "outside", lab_ifs, "", 10s);
  const auto results = read_results(run_scenarios(dir, sh_quote((dir / "contain.yaml").string())));
  REQUIRE(results.count("contain") == 1);
  const auto seen = control.stop(30s);
  const auto leaked = leaks.stop(30s);
  std::size_t outside_packets = 0;
  for (const auto& l : leaked) {
    UNSCOPED_INFO(l);
    if (!lab_interface(packet_interface(l))) ++outside_packets;
  }
  CHECK(outside_packets == 0);
  CHECK(leaked.empty());
  CHECK(seen.size() == 20);
  for (const auto& l : seen) CHECK(packet_interface(l) == "hvl-svc");
  WARN(
      fmt::format("capture on any ({}outside the lab; lo and {} lab interfaces left out): {} packet(s) to or from "
                  "198.18.0.0/15; control on hvl-svc: {} packet(s); run verdict {}",
                  outside, lab_ifs.size() - 1, leaked.size(), seen.size(), results.at("contain").front().verdict));
}
