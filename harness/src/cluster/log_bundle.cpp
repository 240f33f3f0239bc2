#include "haverify/cluster/log_bundle.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "haverify/cluster/recovery_log.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/core/atomic_file.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

namespace fs = std::filesystem;

std::string slice_log(const std::string& text, Nanos since_wall, Nanos until_wall, bool* cut) {
  std::string out;
  std::istringstream in(text);
  bool keep = false, first = true;
  if (cut) *cut = false;
  for (std::string line; std::getline(in, line);) {
    if (const auto t = parse_log_time(line, until_wall)) {
      if (first && cut) *cut = *t > since_wall;
      first = false;
      keep = *t >= since_wall && *t <= until_wall;
    }
    if (keep) out += line + "\n";
  }
  return out;
}

namespace {

// One log of one node: where its slice goes, and the shell words that set $log.
struct LogSource {
  std::string file;     // postgresql.log, corosync.log, ...
  std::string prelude;  // "log=...; "
};

std::vector<LogSource> sources(const Inventory& inv, const NodeSpec& n, bool db_node) {
  std::vector<LogSource> s;
  if (db_node) s.push_back({"postgresql.log", server_log_prelude(n)});
  const auto add = [&s](const std::string& path) {
    if (!path.empty()) s.push_back({fs::path(path).filename().string(), fmt::format("log={}; ", sh_quote(path))});
  };
  add(inv.driver.detect_log);
  if (inv.driver.type == "pacemaker") add("/var/log/pacemaker/pacemaker.log");
  return s;
}

}  // namespace

LogBundleResult collect_logs(const Inventory& inv, TransportPool& pool, const std::string& out_dir,
                             const LogBundleOptions& o) {
  LogBundleResult r;
  const auto until = std::chrono::steady_clock::now() + o.deadline;
  const Nanos to = (o.until_wall ? o.until_wall : wall_now_ns()) + o.margin_ns;
  const Nanos from = o.since_wall - o.margin_ns;
  std::vector<std::pair<const NodeSpec*, bool>> hosts;
  for (const auto& n : inv.nodes) hosts.emplace_back(&n, true);
  for (const auto& n : inv.aux_nodes) hosts.emplace_back(&n, false);
  for (const auto& [n, db] : hosts) {
    for (const auto& src : sources(inv, *n, db)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        r.notes.push_back(
            fmt::format("{} {}: not read, the bundle's {} ms deadline passed", n->name, src.file, o.deadline.count()));
        continue;
      }
      const ExecResult e = pool.run(
          "collect", n->name, fmt::format("{}[ -r \"$log\" ] && tail -c {} \"$log\"", src.prelude, o.max_bytes), left);
      if (!e.ok()) {
        r.notes.push_back(fmt::format("{} {}: not read ({})", n->name, src.file, describe(e)));
        continue;
      }
      bool cut = false;
      const std::string slice = slice_log(e.out, from, to, &cut);
      if (cut && e.out.size() >= o.max_bytes)
        r.notes.push_back(fmt::format("{} {}: the slice starts late: the log's last {} bytes began after the run did",
                                      n->name, src.file, o.max_bytes));
      fs::create_directories(fs::path(out_dir) / n->name);
      write_file_atomic((fs::path(out_dir) / n->name / src.file).string(), slice);
      ++r.files;
    }
  }
  std::string text = fmt::format("log bundle: {} slice(s) from {} to {} (the run, {} s either side)\n", r.files,
                                 format_wall_ns(from), format_wall_ns(to), o.margin_ns / 1'000'000'000);
  for (const auto& note : r.notes) text += note + "\n";
  fs::create_directories(out_dir);
  write_file_atomic((fs::path(out_dir) / "collect.txt").string(), text);
  return r;
}

}  // namespace haverify
