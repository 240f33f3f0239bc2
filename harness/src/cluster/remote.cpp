#include "haverify/cluster/remote.hpp"

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "haverify/core/shell.hpp"

namespace haverify {

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point until) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()));
}

std::string output_tail(const ExecResult& r) {
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) return {};
  if (out.size() > 400) out = "..." + out.substr(out.size() - 400);
  return ": " + out;
}

ExecResult run_on_first_node(const Inventory& inv, TransportPool& pool, const std::string& command,
                             std::chrono::milliseconds deadline, std::string* errors) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  // The node that answered last time first, then the others in inventory order.
  std::vector<std::string> order;
  if (inv.node(pool.last_answered())) order.push_back(pool.last_answered());
  for (const auto& n : inv.nodes)
    if (n.name != pool.last_answered()) order.push_back(n.name);
  ExecResult last;
  for (const auto& name : order) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    last = pool.run("ssh", name, command, left);
    if (last.ok()) {
      pool.set_last_answered(name);
      return last;
    }
    if (errors) *errors += fmt::format("{}{}: {}", errors->empty() ? "" : "; ", name, describe(last));
  }
  return last;
}

void run_script_over_ssh(TransportPool& pool, const std::string& node, const std::string& script_path,
                         const std::vector<std::string>& args, std::chrono::milliseconds deadline,
                         const std::string& what, const std::map<std::string, std::string>& env) {
  std::ifstream in(script_path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the script {}", what, script_path));
  std::stringstream body;
  body << in.rdbuf();
  std::string quoted, vars;
  for (const auto& a : args) quoted += " " + sh_quote(a);
  for (const auto& [k, v] : env) vars += fmt::format("{}={} ", k, sh_quote(v));
  const std::string cmd =
      fmt::format("{}bash -s --{} <<'HAVERIFY_SCRIPT_EOF'\n{}\nHAVERIFY_SCRIPT_EOF", vars, quoted, body.str());
  ExecResult r = pool.run("ssh", node, cmd, deadline);
  if (!r.ok()) throw std::runtime_error(fmt::format("{} failed on {} ({}): {}", what, node, describe(r), r.out));
}

std::vector<ExecResult> run_on_nodes_parallel(TransportPool& pool, const std::vector<std::string>& nodes,
                                              const std::string& command, std::chrono::milliseconds deadline) {
  std::vector<ExecResult> out(nodes.size());
  // The pool is not thread-safe: every session is looked up (created) here,
  // then each thread uses its own.
  std::vector<Transport*> transports(nodes.size(), nullptr);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    try {
      transports[i] = &pool.node(nodes[i]);
    } catch (const std::exception& e) {
      out[i].error = e.what();  // recorded: this node's result says why it did not run
    }
  }
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (transports[i])
        threads.emplace_back([&, i] {
          try {
            out[i] = transports[i]->exec(command, deadline);
          } catch (const std::exception& e) {
            out[i].error = e.what();
          }
        });
  }
  return out;
}

}  // namespace haverify
