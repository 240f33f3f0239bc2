#include "reports/run_timeline.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "haverify/core/latency.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/csv_read.hpp"

namespace haverify::reports {

namespace fs = std::filesystem;

const char* to_string(LaneState s) {
  switch (s) {
    case LaneState::writable:
      return "writable";
    case LaneState::read_only:
      return "read-only";
    case LaneState::standby:
      return "standby";
    case LaneState::down:
      return "down";
    case LaneState::unknown:
      break;
  }
  return "unknown";
}

std::optional<std::int64_t> parse_wall_ns(const std::string& iso) {
  std::tm tm{};
  int ms = 0;
  char z = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms, &z) != 8 ||
      z != 'Z')
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000'000 + std::int64_t{ms} * 1'000'000;
}

std::optional<double> json_number(const nlohmann::json& row, const char* key) {
  if (!row.is_object() || !row.contains(key) || !row[key].is_number()) return std::nullopt;
  return row[key].get<double>();
}

namespace {

std::optional<double> json_wall_s(const nlohmann::json& row, const char* key, std::int64_t t0_wall_ns) {
  if (!row.is_object() || !row.contains(key) || !row[key].is_string()) return std::nullopt;
  const auto ns = parse_wall_ns(row[key].get<std::string>());
  if (!ns) return std::nullopt;
  return static_cast<double>(*ns - t0_wall_ns) / 1e9;
}

// The acknowledged writes per bucket, and their latency. A run longer than
// max buckets doubles the bucket width and merges neighbours.
class WriteBuckets {
 public:
  explicit WriteBuckets(std::size_t max) : max_(std::max<std::size_t>(max, 2)) {}
  void add(double t_s, bool ok, std::optional<Nanos> latency) {
    if (t_s < 0) t_s = 0;
    auto i = static_cast<std::size_t>(t_s / width_);
    while (i >= max_) {
      halve();
      i = static_cast<std::size_t>(t_s / width_);
    }
    if (i >= acks_.size()) {
      acks_.resize(i + 1, 0);
      fails_.resize(i + 1, 0);
      lat_.resize(i + 1);
    }
    (ok ? acks_ : fails_)[i] += 1;
    if (ok && latency) lat_[i].add(*latency);
  }
  void into(RunTimeline& t) const {
    t.bucket_s = width_;
    t.acks = acks_;
    t.fails = fails_;
    for (const auto& h : lat_) {
      t.p50_ms.push_back(h.quantile_ms(0.5));
      t.p99_ms.push_back(h.quantile_ms(0.99));
    }
  }

 private:
  void halve() {
    width_ *= 2;
    const std::size_t n = (acks_.size() + 1) / 2;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t a = 2 * k, b = 2 * k + 1;
      acks_[k] = acks_[a] + (b < acks_.size() ? acks_[b] : 0);
      fails_[k] = fails_[a] + (b < fails_.size() ? fails_[b] : 0);
      LatencyHistogram h = std::move(lat_[a]);
      if (b < lat_.size()) h.merge(lat_[b]);
      lat_[k] = std::move(h);
    }
    acks_.resize(n);
    fails_.resize(n);
    lat_.resize(n);
  }
  std::size_t max_;
  double width_ = 0.1;
  std::vector<std::uint64_t> acks_, fails_;
  std::vector<LatencyHistogram> lat_;
};

// invoke .. ok/fail pairs by key, in order (a key may open again).
class Pairs {
 public:
  void open(const std::string& key, double t_s, std::string label) {
    open_[key].push_back(Stretch{t_s, t_s, std::move(label), false, false});
  }
  void close(const std::string& key, double t_s, bool failed, std::vector<Stretch>& out) {
    auto it = open_.find(key);
    if (it == open_.end() || it->second.empty()) return;
    Stretch s = it->second.front();
    it->second.erase(it->second.begin());
    s.to_s = std::max(t_s, s.from_s);
    s.ended = true;
    s.failed = failed;
    out.push_back(std::move(s));
  }
  void finish(double end_s, std::vector<Stretch>& out) {
    for (auto& [key, v] : open_)
      for (auto& s : v) {
        s.to_s = std::max(end_s, s.from_s);
        out.push_back(std::move(s));
      }
    open_.clear();
    std::sort(out.begin(), out.end(), [](const Stretch& a, const Stretch& b) { return a.from_s < b.from_s; });
  }

 private:
  std::map<std::string, std::vector<Stretch>> open_;
};

LaneState lane_state(const Op& op) {
  if (op.type != OpType::ok) return LaneState::down;
  const auto j = nlohmann::json::parse(op.value, nullptr, false);
  if (!j.is_object()) return LaneState::unknown;
  if (j.contains("writable") && j["writable"].is_boolean() && j["writable"].get<bool>()) return LaneState::writable;
  if (j.contains("in_recovery") && j["in_recovery"].is_boolean())
    return j["in_recovery"].get<bool>() ? LaneState::standby : LaneState::read_only;
  return LaneState::unknown;
}

// history.jsonl -> the parts of RunTimeline it holds. One pass, streamed.
class HistoryReader {
 public:
  explicit HistoryReader(std::size_t max_buckets) : writes_(max_buckets) {}
  void on_op(const Op& op, double t_s);
  void finish(RunTimeline& t);
  std::int64_t t0_wall_ns = 0;

 private:
  void on_sample(const Op& op, double t_s);
  WriteBuckets writes_;
  std::map<std::string, Nanos> invoked_;  // client -> its open write's invoke
  Pairs faults_, ops_;
  std::vector<Stretch> fault_out_, op_out_;
  std::map<std::string, std::vector<LaneSegment>> lanes_;
  std::optional<double> converged_;
  double end_s_ = 0;
};

void HistoryReader::on_sample(const Op& op, double t_s) {
  auto& lane = lanes_[op.node];
  const LaneState s = lane_state(op);
  if (lane.empty() || lane.back().state != s) lane.push_back(LaneSegment{t_s, t_s, s});  // its end: finish()
}

void HistoryReader::on_op(const Op& op, double t_s) {
  end_s_ = std::max(end_s_, t_s);
  if (op::is_ledger_write(op) || op::is_transfer(op)) {
    if (op.type == OpType::invoke) {
      invoked_[op.process] = op.mono_ns;
      return;
    }
    const auto it = invoked_.find(op.process);
    std::optional<Nanos> latency;
    if (it != invoked_.end()) latency = op.mono_ns - it->second;
    writes_.add(t_s, op.type == OpType::ok, latency);
  } else if (op::is(op, op::proc::probe, op::fn::state) && op.type != OpType::invoke) {
    on_sample(op, t_s);
  } else if (op::is_from(op, op::proc::nemesis) && (op.f == op::fn::inject || op.f == op::fn::heal)) {
    const std::string key = op.node + "\n" + op.value;
    if (op.f == op::fn::inject && op.type == OpType::invoke) faults_.open(key, t_s, op.value);
    if (op.f == op::fn::heal && op.type != OpType::invoke) faults_.close(key, t_s, op.type != OpType::ok, fault_out_);
  } else if ((op::is_from(op, op::proc::driver) && op.f != op::fn::detect) || op::is_from(op, op::proc::maintenance) ||
             (op::is_from(op, op::proc::runner) && (op.f == op::fn::rejoin || op.f == "recover"))) {
    const std::string key = op.process + "\n" + op.f + "\n" + op.node;
    const std::string who = op::is_from(op, op::proc::runner) ? "haverify " : "";
    if (op.type == OpType::invoke)
      ops_.open(key, t_s, fmt::format("{}{}{}{}", who, op.f, op.node.empty() ? "" : " ", op.node));
    else
      ops_.close(key, t_s, op.type == OpType::fail, op_out_);
  } else if (op::is(op, op::proc::runner, "converge") && op.type == OpType::ok && !converged_) {
    converged_ = t_s;
  }
}

void HistoryReader::finish(RunTimeline& t) {
  t.end_s = end_s_;
  writes_.into(t);
  // A segment ends where the node's next one begins, the last at the run's end.
  for (auto& [node, lane] : lanes_)
    for (std::size_t i = 0; i < lane.size(); ++i) lane[i].to_s = i + 1 < lane.size() ? lane[i + 1].from_s : end_s_;
  t.lanes = std::move(lanes_);
  faults_.finish(end_s_, fault_out_);
  ops_.finish(end_s_, op_out_);
  t.faults = std::move(fault_out_);
  t.operations = std::move(op_out_);
  if (converged_) t.markers.push_back(Marker{*converged_, "converged"});
}

Op op_of(const nlohmann::json& j) {
  Op op;
  op.process = j.value("process", std::string());
  op.f = j.value("f", std::string());
  op.value = j.value("value", std::string());
  op.node = j.value("node", std::string());
  op.error = j.value("error", std::string());
  op.mono_ns = j.value("mono_ns", Nanos{0});
  const std::string type = j.value("type", std::string());
  op.type = type == "ok" ? OpType::ok : type == "fail" ? OpType::fail : type == "info" ? OpType::info : OpType::invoke;
  return op;
}

// Streams history.jsonl; false when the file is missing. Lines that are not
// ops are counted in `bad`.
bool read_history(const fs::path& path, HistoryReader& reader, std::size_t& bad) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  std::optional<Nanos> mono0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("mono_ns") || !j["mono_ns"].is_number_integer()) {
      ++bad;
      continue;
    }
    const Op op = op_of(j);
    if (!mono0) {
      mono0 = op.mono_ns;
      if (const auto w = parse_wall_ns(j.value("wall", std::string()))) reader.t0_wall_ns = *w;
    }
    reader.on_op(op, static_cast<double>(op.mono_ns - *mono0) / 1e9);
  }
  return true;
}

}  // namespace

std::vector<Marker> row_markers(const nlohmann::json& row, std::int64_t t0_wall_ns) {
  std::vector<Marker> out;
  const auto inject = json_wall_s(row, "t_inject_sent", t0_wall_ns);
  if (inject) out.push_back({*inject, "inject"});
  if (const auto t = json_wall_s(row, "t_detect", t0_wall_ns)) out.push_back({*t, "detect"});
  if (const auto t = json_wall_s(row, "t_promote", t0_wall_ns)) out.push_back({*t, "promote"});
  if (inject) {
    if (const auto s = json_number(row, "vip_s")) out.push_back({*inject + *s, "vip"});
    if (const auto s = json_number(row, "dns_s")) out.push_back({*inject + *s, "dns"});
  }
  if (const auto t = json_wall_s(row, "t_first_write", t0_wall_ns)) out.push_back({*t, "first write"});
  return out;
}

namespace {

void read_marked(const nlohmann::json& run, RunTimeline& t) {
  if (!run.contains("checkers") || !run["checkers"].is_array()) return;
  for (const auto& c : run["checkers"]) {
    if (!c.is_object() || !c.contains("windows") || !c["windows"].is_array()) continue;
    for (const auto& w : c["windows"])
      if (w.is_object() && w.value("from_s", -1.0) >= 0)
        t.marked.push_back({w.value("kind", std::string()), w.value("from_s", 0.0), w.value("to_s", 0.0),
                            w.value("label", std::string())});
  }
}

// series.csv: the 12 pids with the highest rss, in MB.
void read_memory(const fs::path& path, RunTimeline& t) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;
  const CsvTable csv = read_csv_table(path.string());
  const int ct = csv.column("t_rel_s"), cn = csv.column("node"), cp = csv.column("pid"), cproc = csv.column("process"),
            crss = csv.column("rss_kb");
  if (ct < 0 || cn < 0 || cp < 0 || cproc < 0 || crss < 0) return;
  std::map<std::string, MemorySeries> by;
  std::map<std::string, double> peak;
  for (const auto& r : csv.rows) {
    const std::string key = r[cn] + " " + r[cproc] + " (pid " + r[cp] + ")";
    double ts = 0, kb = 0;
    try {
      ts = std::stod(r[ct]);
      kb = std::stod(r[crss]);
    } catch (const std::exception&) {
      continue;
    }
    auto& s = by[key];
    s.name = key;
    s.points.emplace_back(ts, kb / 1024.0);
    peak[key] = std::max(peak[key], kb / 1024.0);
  }
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [k, p] : peak) order.emplace_back(-p, k);
  std::sort(order.begin(), order.end());
  for (std::size_t i = 0; i < order.size() && i < 12; ++i) t.memory.push_back(std::move(by[order[i].second]));
}

}  // namespace

RunTimeline read_run_timeline(const std::string& run_dir, std::size_t max_buckets) {
  RunTimeline t;
  std::vector<std::string> notes;
  HistoryReader reader(max_buckets);
  std::size_t bad = 0;
  if (!read_history(fs::path(run_dir) / "history.jsonl", reader, bad)) notes.push_back("no history.jsonl");
  if (bad > 0) notes.push_back(fmt::format("{} line(s) of history.jsonl are not ops", bad));
  reader.finish(t);
  std::ifstream in(fs::path(run_dir) / "run.json");
  const auto run = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  if (run.is_object() && run.contains("row")) {
    for (auto& m : row_markers(run["row"], reader.t0_wall_ns)) t.markers.push_back(std::move(m));
    read_marked(run, t);
  } else {
    notes.push_back("no readable run.json (no phase markers, no checker windows)");
  }
  std::sort(t.markers.begin(), t.markers.end(), [](const Marker& a, const Marker& b) { return a.t_s < b.t_s; });
  try {
    read_memory(fs::path(run_dir) / "series.csv", t);
  } catch (const std::exception& e) {
    notes.push_back(e.what());
  }
  for (const auto& n : notes) t.note += (t.note.empty() ? "" : "; ") + n;
  return t;
}

}  // namespace haverify::reports
