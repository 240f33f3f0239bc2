#include "haverify/workload/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "haverify/core/shell.hpp"

namespace haverify {

std::string proc_sample_command(const std::vector<std::string>& selectors, const std::string& data_dir) {
  // One case arm per selector; `k=1` keeps the process.
  std::string arms;
  for (const auto& s : selectors) {
    if (s == "postgres")
      arms +=
          "postgres|postmaster) if [ -z \"$pm\" ] || [ \"$p\" = \"$pm\" ] || [ \"$pp\" = \"$pm\" ]; then k=1; fi;; ";
    else if (s == "pgpool")
      arms += "pgpool) k=1;; ";
    else if (s == "corosync")
      arms += "corosync) k=1;; ";
    else if (s == "pacemaker")
      arms += "pacemakerd|pacemaker-*) k=1;; ";
    else if (s == "patroni")
      arms += "patroni) k=1;; ";
    else if (s == "etcd")
      arms += "etcd) k=1;; ";
    else if (s.rfind("name:", 0) == 0 && valid_sampler_selector(s))
      arms += s.substr(5) + ") k=1;; ";
    else
      throw std::invalid_argument(fmt::format("unknown process selector '{}'", s));
  }
  return fmt::format(
      // rd: the whole status file in one pass. bash reads a block and seeks
      // back (hence the single read -d ''); dash (/bin/sh on Debian, what sudo
      // runs) reads byte by byte and never seeks, so its loop sees one rendering.
      "if [ -n \"${{BASH_VERSION:-}}\" ]; then rd() {{ IFS= read -r -d '' s; }}; "
      "else rd() {{ while IFS= read -r l; do s=\"$s$l \"; done; }}; fi; "
      "hz=$(getconf CLK_TCK 2>/dev/null || echo 100); "
      "pm=$(head -n 1 {} 2>/dev/null); "
      "read -r up idle < /proc/uptime; "
      "echo \"H $hz ${{pm:-0}} $up\"; "
      "cd /proc || exit 1; "
      "for p in [0-9]*; do "
      "st=; {{ read -r st < \"$p/stat\"; }} 2>/dev/null || continue; "
      "c=${{st#*\\(}}; c=${{c%\\)*}}; r=${{st##*\\) }}; set -- $r; pp=$2; k=; "
      "case \"$c\" in {}*) ;; esac; "
      "[ -n \"$k\" ] || continue; "
      // status in one pass (rd): bash's `read` in a loop seeks back after each line and
      // the kernel renders the file again for the next read, so when a busy backend's
      // figures change length between two reads, lines shift and VmRSS or RssAnon is
      // skipped (a 0 that memory_growth took for growth; CI, 2026-12-07).
      "s=; {{ rd < \"$p/status\"; }} 2>/dev/null; "
      "case $s in *VmRSS:*) ;; *) continue;; esac; "
      "m=${{s#*VmRSS:}}; m=${{m%%kB*}}; a=0; "
      "case $s in *RssAnon:*) a=${{s#*RssAnon:}}; a=${{a%%kB*}};; esac; "
      // The process title without a fork per kept process (with a `tr` each, the sample
      // of the pgpool lab's node1 timed out at 1 s in 15 of 24 rounds): `read` keeps the
      // titles postgres and pgpool write (the only ones parse_proc_sample reads) and
      // drops other processes' NUL separators.
      "cl=; {{ read -r cl < \"$p/cmdline\"; }} 2>/dev/null; "
      "echo \"P $st\"; echo \"M\" $m $a; echo \"C $cl\"; "
      "done",
      sh_quote(data_dir + "/postmaster.pid"), arms);
}

namespace {

std::int64_t to_i64(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (const std::logic_error&) {
    return 0;  // not a number (a process that changed while it was read): the field reads as 0
  }
}

bool parse_stat(const std::string& st, ProcEntry* e) {
  const auto open = st.find(" (");
  const auto close = st.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  e->pid = to_i64(st.substr(0, open));
  e->comm = st.substr(open + 2, close - open - 2);
  std::istringstream rest(close + 2 <= st.size() ? st.substr(close + 2) : std::string());
  std::vector<std::string> f;
  std::string x;
  while (rest >> x) f.push_back(x);
  // f[0] is field 3 (state): ppid 4, utime 14, stime 15, starttime 22.
  if (f.size() < 20 || e->pid <= 0) return false;
  e->ppid = to_i64(f[1]);
  e->utime = to_i64(f[11]);
  e->stime = to_i64(f[12]);
  e->starttime = to_i64(f[19]);
  return true;
}

}  // namespace

ProcSnapshot parse_proc_sample(const std::string& out) {
  ProcSnapshot snap;
  bool header = false;
  std::istringstream in(out);
  std::string line;
  ProcEntry cur;
  enum { none, have_p, have_m } state = none;
  while (std::getline(in, line)) {
    if (line.size() < 2 || line[1] != ' ') continue;
    const std::string body = line.substr(2);
    switch (line[0]) {
      case 'H': {
        std::istringstream h(body);
        std::string pm;
        h >> snap.hz >> pm >> snap.uptime_s;
        snap.postmaster = to_i64(pm);
        if (snap.hz <= 0) snap.hz = 100;
        header = true;
        break;
      }
      case 'P':
        cur = ProcEntry{};
        state = parse_stat(body, &cur) ? have_p : none;
        break;
      case 'M':
        if (state == have_p) {
          std::istringstream m(body);
          m >> cur.rss_kb >> cur.anon_kb;
          state = have_m;
        }
        break;
      case 'C':
        if (state == have_m) {
          cur.cmdline = body;
          while (!cur.cmdline.empty() && cur.cmdline.back() == ' ') cur.cmdline.pop_back();
          snap.procs.push_back(cur);
        }
        state = none;
        break;
      default:
        break;
    }
  }
  if (!header) throw std::runtime_error("no header line in the sampler's output");
  return snap;
}

std::string process_name(const ProcEntry& p, std::int64_t postmaster) {
  if (p.comm == "postgres" || p.comm == "postmaster") {
    if (p.pid == postmaster) return "postmaster";
    if (p.cmdline.rfind("postgres: ", 0) != 0) return postmaster == 0 ? "postmaster" : "postgres";
    const std::string tail = p.cmdline.substr(10);
    static const char* const kAux[] = {"checkpointer",
                                       "background writer",
                                       "walwriter",
                                       "autovacuum launcher",
                                       "autovacuum worker",
                                       "logical replication launcher",
                                       "logical replication worker",
                                       "logical replication apply worker",
                                       "stats collector",
                                       "archiver",
                                       "walsender",
                                       "walreceiver",
                                       "startup",
                                       "wal summarizer",
                                       "parallel worker"};
    // "postgres: <aux> ..." or, with a cluster_name, "postgres: 15/main: <aux> ...".
    for (const char* aux : kAux) {
      const std::string a(aux);
      if (tail.rfind(a, 0) == 0 || tail.find(": " + a) != std::string::npos) return "postgres: " + a;
    }
    return "postgres: backend";
  }
  if (p.comm == "pgpool") {
    if (p.cmdline.rfind("pgpool: ", 0) != 0) return "pgpool";
    const std::string tail = p.cmdline.substr(8);
    if (tail.find("PCP") != std::string::npos) return "pgpool: pcp";
    if (tail.find("health check") != std::string::npos) return "pgpool: health check";
    if (tail.find("worker") != std::string::npos) return "pgpool: worker";
    if (tail.find("watchdog") != std::string::npos || tail.find("lifecheck") != std::string::npos)
      return "pgpool: watchdog";
    if (tail.find("logger") != std::string::npos) return "pgpool: logger";
    return "pgpool: child";
  }
  return p.comm;
}

std::optional<double> cpu_percent(const ProcEntry& before, double uptime_before, const ProcEntry& after,
                                  double uptime_after, long hz) {
  if (before.pid != after.pid || before.starttime != after.starttime || hz <= 0) return std::nullopt;
  const double dt = uptime_after - uptime_before;
  if (dt <= 0) return std::nullopt;
  const auto ticks = (after.utime + after.stime) - (before.utime + before.stime);
  if (ticks < 0) return std::nullopt;
  return static_cast<double>(ticks) / static_cast<double>(hz) / dt * 100.0;
}

// ---------------------------------------------------------------------------

ProcessSampler::ProcessSampler(const Inventory& inv, History& history, SamplerOptions options)
    : inv_(inv), history_(history), options_(std::move(options)) {
  if (options_.interval.count() < 100) throw std::invalid_argument("sampler: interval must be at least 100 ms");
  for (const auto& s : options_.processes)
    if (!valid_sampler_selector(s)) throw std::invalid_argument(fmt::format("sampler: unknown process '{}'", s));
  if (!options_.transport)
    options_.transport = [](const NodeSpec& n) -> std::unique_ptr<Transport> {
      return std::make_unique<SshTransport>(n.ssh);
    };
}

ProcessSampler::~ProcessSampler() {
  stop();
}

void ProcessSampler::start() {
  threads_.start(
      static_cast<int>(inv_.nodes.size()), [this](int i) { loop(i); }, "sampler");
}

void ProcessSampler::stop() {
  threads_.stop();
}

void ProcessSampler::record(OpType type, std::string_view f, std::string value, const std::string& node,
                            std::string error) {
  history_.record(std::string(op::proc::sampler), type, std::string(f), std::move(value), node, std::move(error));
}

// One `proc` op per process of the snapshot (cpu_pct against `prev`, the
// node's previous sample); returns the processes for the next one.
std::map<std::int64_t, ProcEntry> ProcessSampler::record_snapshot(const ProcSnapshot& snap,
                                                                  const std::map<std::int64_t, ProcEntry>& prev,
                                                                  double prev_uptime, const std::string& node) {
  std::map<std::int64_t, ProcEntry> now;
  for (const auto& p : snap.procs) {
    nlohmann::json j = {
        {"pid", p.pid}, {"process", process_name(p, snap.postmaster)}, {"rss_kb", p.rss_kb}, {"anon_kb", p.anon_kb}};
    if (auto it = prev.find(p.pid); it != prev.end())
      if (auto cpu = cpu_percent(it->second, prev_uptime, p, snap.uptime_s, snap.hz))
        j["cpu_pct"] = std::round(*cpu * 10) / 10;
    record(OpType::ok, op::fn::proc, j.dump(), node);
    now[p.pid] = p;
  }
  return now;
}

void ProcessSampler::loop(int node_index) {
  const NodeSpec& node = inv_.nodes[static_cast<std::size_t>(node_index)];
  std::unique_ptr<Transport> t;
  try {
    t = options_.transport(node);
  } catch (const std::exception& e) {
    record(OpType::fail, op::fn::sample, "", node.name, e.what());
    return;
  }
  const std::string command = proc_sample_command(options_.processes, node.postgres.data_dir);
  // A sample may take `deadline`, by default up to the interval, within 1-10 s.
  const auto deadline = options_.deadline.count() > 0 ? options_.deadline
                                                      : std::clamp(options_.interval, std::chrono::milliseconds(1000),
                                                                   std::chrono::milliseconds(10000));
  std::map<std::int64_t, ProcEntry> prev;
  double prev_uptime = 0;
  auto next = std::chrono::steady_clock::now();
  while (!threads_.stopping()) {
    ExecResult r = t->exec(command, deadline);
    std::string err;
    if (!r.ok()) {
      err = describe(r);
    } else {
      try {
        const ProcSnapshot snap = parse_proc_sample(r.out);
        prev = record_snapshot(snap, prev, prev_uptime, node.name);
        prev_uptime = snap.uptime_s;
      } catch (const std::exception& e) {
        err = e.what();
      }
    }
    if (!err.empty()) record(OpType::fail, op::fn::sample, "", node.name, err);
    samples_.fetch_add(1);
    next += options_.interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow sample: the next one right away, no burst
    threads_.backoff(std::chrono::duration_cast<std::chrono::milliseconds>(next - now));
  }
}

WorkloadFigures ProcessSampler::figures() const {
  return {{"samples", samples_.load()}};
}

}  // namespace haverify
