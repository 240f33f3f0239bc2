// Self-cut safety on a three-LAN layout (issue 17): the pgrex lab with
// haverify's SSH over the service LAN (lab up --ssh-lan service), as on a
// cluster whose service LAN is also its management LAN. A cut of a node's
// service LAN takes haverify's SSH to it: refused (exit 2, before any fault)
// unless the cut heals itself on the node; then it runs, the node heals
// itself while haverify cannot reach it, and haverify checks that it did.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>

#include "lab_support.hpp"

using namespace labtest;

namespace {

// A TCP connection to address:port opens within `timeout`.
bool tcp_opens(const std::string& address, int port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  bool open = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  if (!open && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    open = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
           ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::close(fd);
  return open;
}

// Counts, while it lives, the attempts to open haverify's SSH to `address`
// that failed (one every 250 ms, each given 1 s).
class SshWatch {
 public:
  explicit SshWatch(std::string address)
      : address_(std::move(address)), thread_([this](std::stop_token stop) {
          while (!stop.stop_requested()) {
            if (!tcp_opens(address_, 22, 1000ms)) ++failed_;
            ++tried_;
            std::this_thread::sleep_for(250ms);
          }
        }) {}
  int failed() const { return failed_; }
  int tried() const { return tried_; }

 private:
  std::string address_;
  std::atomic<int> failed_{0}, tried_{0};
  std::jthread thread_;
};

fs::path write_cut_scenario(const fs::path& dir, const std::string& name, const std::string& node, bool self_heal) {
  const fs::path p = dir / (name + ".yaml");
  std::ofstream(p) << fmt::format(R"(name: {}
kind: single-fault
workload:
  ledger: {{clients: 4, connect_deadline: 3s, commit_deadline: 3s}}
steps:
  - start: ledger
  - wait: 5s
  - inject: {{id: cut, fault: lan_cut, lan: service, method: link, target: {}, duration: 20s{}}}
  - recover: {{timeout: 120s}}
  - wait: 2s
  - stop: ledger
checks:
  lost_acked: {{max: 0}}
  acked_total: {{min: 1000}}
expect: {{outcome: no-failover}}
)",
                                  name, node, self_heal ? ", self_heal: true" : "");
  return p;
}

// The history of the one run under `suite`.
std::string run_history(const fs::path& suite) {
  for (const auto& e : fs::recursive_directory_iterator(suite))
    if (e.path().filename() == "history.jsonl") return slurp(e.path());
  FAIL("no history.jsonl under " << suite);
  return {};
}

// The nemesis ops of `history` (JSON lines) with this f, type and value.
int nemesis_ops(const std::string& history, const std::string& f, const std::string& type, const std::string& value) {
  std::istringstream in(history);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find(R"("process":"nemesis")") != std::string::npos &&
         line.find(fmt::format(R"("f":"{}")", f)) != std::string::npos &&
         line.find(fmt::format(R"("type":"{}")", type)) != std::string::npos &&
         line.find(fmt::format(R"("value":"{}")", value)) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("pgrex stack with SSH over the service LAN: its cut is refused unless it heals itself on the node",
          "[stacks]") {
  StackLab up("pgrex", "", " --ssh-lan service");
  require_lab_healthy(180s);
  const Inventory inv = load_inventory(inventory_path());
  const std::string node = some_standby(inv);
  const std::string ssh_host = inv.node(node)->ssh.host;
  REQUIRE(ssh_host.rfind("198.18.1.", 0) == 0);  // the service LAN
  const fs::path dir = fresh_dir("self-heal");
  const std::string env =
      fmt::format("cd {} && HAVERIFY_LEDGER={} ", sh_quote(kSrc), sh_quote((dir / "ledger.json").string()));

  // 1. Without self_heal: refused before any SSH or fault, with the file, the line and the fix.
  const fs::path plain = write_cut_scenario(dir, "cut-ssh-lan", node, false);
  const auto refused =
      sh(env + fmt::format("{} run {} --inventory {} --out {}", sh_quote(kBin), sh_quote(plain.string()),
                           sh_quote(inventory_path()), sh_quote((dir / "refused").string())),
         120s);
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find(plain.string() + ":8: ") != std::string::npos);
  CHECK(refused.err.find(fmt::format("would cut haverify's SSH to {} (ssh.host {} is on LAN 'service')", node,
                                     ssh_host)) != std::string::npos);
  CHECK(refused.err.find("self_heal: true") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "ledger.json"));
  CHECK(link_up(node, "svc0"));

  // 2. Self-healing: the cut runs, haverify's SSH to the node is really gone
  //    meanwhile, the node heals itself, and the run passes.
  const fs::path healing = write_cut_scenario(dir, "cut-ssh-lan-self-healing", node, true);
  ExecResult run;
  int failed = 0, tried = 0;
  {
    SshWatch watch(ssh_host);
    run = sh(env + fmt::format("{} run {} --inventory {} --out {} --seed 7", sh_quote(kBin), sh_quote(healing.string()),
                               sh_quote(inventory_path()), sh_quote((dir / "suite").string())),
             600s);
    failed = watch.failed();
    tried = watch.tried();
  }
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  CHECK_FALSE(fs::exists(dir / "ledger.json"));  // nothing left for `haverify heal`
  WARN(fmt::format("SSH to {} ({}) failed {} of {} tries during the run", node, ssh_host, failed, tried));
  CHECK(failed >= 8);  // a 20 s cut: at least 2 s of it seen
  CHECK(tcp_opens(ssh_host, 22, 2000ms));
  CHECK(link_up(node, "svc0"));
  const auto rows = read_results(dir / "suite" / "results.csv");
  REQUIRE(rows.count("cut-ssh-lan-self-healing") == 1);
  const ResultRow& r = rows.at("cut-ssh-lan-self-healing").front();
  INFO(r.verdict << " " << r.reason << " " << r.checkers);
  CHECK(r.verdict == "pass");
  CHECK(r.lost_acked == "0");
  CHECK(r.checkers.find("single_writer=pass") != std::string::npos);
  CHECK(r.checkers.find("repairs=") == std::string::npos);  // recover had nothing to repair
  const std::string history = run_history(dir / "suite");
  const std::string desc = fmt::format("lan_cut service (svc0, link) on {}, self-healing after 20.000 s", node);
  CHECK(nemesis_ops(history, "inject", "ok", desc) == 1);
  CHECK(nemesis_ops(history, "heal", "ok", desc) == 1);
  require_lab_healthy(120s);
}
