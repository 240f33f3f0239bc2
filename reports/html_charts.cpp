#include "reports/html_charts.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "reports/results.hpp"

namespace haverify::reports {

namespace {

constexpr double kWidth = 1100, kLeft = 130, kRight = 1080;

// Seconds -> x, over [0, end].
struct Axis {
  double end = 1;
  double x(double t) const { return kLeft + (kRight - kLeft) * std::clamp(t / end, 0.0, 1.0); }
};

double nice_step(double span, int ticks) {
  const double raw = span / std::max(ticks, 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw > 0 ? raw : 1)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string fmt_s(double v) {
  return fmt::format("{:.3f}", v);
}

// Ticks and labels under [top, bottom].
std::string time_axis(const Axis& a, double top, double bottom) {
  std::string out;
  const double step = nice_step(a.end, 10);
  for (double t = 0; t <= a.end + 1e-9; t += step) {
    out += fmt::format(R"(<line class="grid" x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}"/>)", a.x(t), top, bottom);
    out += fmt::format(R"(<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{:g} s</text>)", a.x(t),
                       bottom + 14, t);
  }
  return out;
}

// A stretch drawn across the chart's height, with its figures.
std::string band(const char* cls, const Axis& a, double from, double to, double top, double bottom,
                 const std::string& label, const std::string& extra = "") {
  const double x0 = a.x(from), x1 = std::max(a.x(to), x0 + 1.5);
  return fmt::format(
      R"(<rect class="{}" x="{:.1f}" y="{}" width="{:.1f}" height="{}" data-from-s="{}" data-to-s="{}" data-label="{}"{}><title>{}: {} .. {} s</title></rect>)",
      cls, x0, top, x1 - x0, bottom - top, fmt_s(from), fmt_s(to), xml_escape(label), extra, xml_escape(label),
      fmt_s(from), fmt_s(to));
}

std::string writes_panel(const RunTimeline& t, const Axis& a, double top, double h) {
  std::uint64_t peak = 1;
  for (const auto n : t.acks) peak = std::max(peak, n);
  std::string path = fmt::format("M{:.1f},{:.1f}", a.x(0), top + h);
  for (std::size_t i = 0; i < t.acks.size(); ++i) {
    const double y = top + h - h * static_cast<double>(t.acks[i]) / static_cast<double>(peak);
    path += fmt::format(" L{:.1f},{:.1f} L{:.1f},{:.1f}", a.x(i * t.bucket_s), y, a.x((i + 1) * t.bucket_s), y);
  }
  path += fmt::format(" L{:.1f},{:.1f} Z", a.x(t.acks.size() * t.bucket_s), top + h);
  std::string out = fmt::format(R"(<path class="acks" d="{}"/>)", path);
  for (std::size_t i = 0; i < t.fails.size(); ++i)
    if (t.fails[i] > 0)
      out +=
          fmt::format(R"(<rect class="fails" x="{:.1f}" y="{}" width="{:.1f}" height="6"><title>{} failed or )"
                      R"(unknown write(s) at {} s</title></rect>)",
                      a.x(i * t.bucket_s), top + h - 6, std::max(1.5, a.x((i + 1) * t.bucket_s) - a.x(i * t.bucket_s)),
                      t.fails[i], fmt_s(i * t.bucket_s));
  out += fmt::format(R"(<text class="panel" x="8" y="{}">acked writes</text>)", top + 14);
  out += fmt::format(R"(<text class="panel small" x="8" y="{}">per {:g} ms</text>)", top + 28, t.bucket_s * 1000);
  out += fmt::format(R"(<text class="panel small" x="8" y="{}">peak {}</text>)", top + 42, peak);
  return out;
}

std::string latency_panel(const RunTimeline& t, const Axis& a, double top, double h) {
  double hi = 1;
  for (const auto& v : t.p99_ms)
    if (v) hi = std::max(hi, *v);
  const double lo = 0.1, span = std::log10(hi * 1.2) - std::log10(lo);
  const auto y = [&](double ms) { return top + h - h * (std::log10(std::max(ms, lo)) - std::log10(lo)) / span; };
  std::string out;
  for (const auto* series : {&t.p50_ms, &t.p99_ms}) {
    std::string d;  // a bucket without an ack breaks the line
    bool open = false;
    for (std::size_t i = 0; i < series->size(); ++i) {
      if ((*series)[i])
        d += fmt::format("{}{:.1f},{:.1f} ", open ? "L" : "M", a.x((i + 0.5) * t.bucket_s), y(*(*series)[i]));
      open = (*series)[i].has_value();
    }
    out += fmt::format(R"(<path class="{}" d="{}"/>)", series == &t.p50_ms ? "p50" : "p99", d);
  }
  for (const double ms : {1.0, 10.0, 100.0, 1000.0, 10000.0})
    if (ms <= hi * 1.2)
      out += fmt::format(R"(<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{:g} ms</text>)", kLeft - 4,
                         y(ms) + 4, ms);
  out += fmt::format(R"(<text class="panel" x="8" y="{}">latency</text>)", top + 14);
  out += fmt::format(R"(<text class="panel small" x="8" y="{}"><tspan class="p50-key">p50</tspan> )"
                     R"(<tspan class="p99-key">p99</tspan></text>)",
                     top + 28);
  return out;
}

std::string lane(const std::string& node, const std::vector<LaneSegment>& segs, const Axis& a, double top, double h) {
  std::string out = fmt::format(R"(<g class="lane" data-node="{}">)", xml_escape(node));
  out += fmt::format(R"(<text class="panel" x="8" y="{}">{}</text>)", top + h - 6, xml_escape(node));
  for (const auto& s : segs) {
    const double x0 = a.x(s.from_s), x1 = std::max(a.x(s.to_s), x0 + 0.5);
    out += fmt::format(
        R"(<rect class="lane-seg {0}" x="{1:.1f}" y="{2}" width="{3:.1f}" height="{4}" data-node="{5}" data-state="{0}" data-from-s="{6}" data-to-s="{7}"><title>{5} {0}: {6} .. {7} s</title></rect>)",
        to_string(s.state), x0, top, x1 - x0, h, xml_escape(node), fmt_s(s.from_s), fmt_s(s.to_s));
  }
  return out + "</g>";
}

// Each operation on the first row where it (and its label) fits after the
// row's last one.
std::vector<int> operation_rows(const std::vector<Stretch>& ops, const Axis& a) {
  std::vector<double> right;  // per row: where its last operation or label ends
  std::vector<int> rows;
  for (const auto& o : ops) {
    const double x0 = a.x(o.from_s), end = std::max(a.x(o.to_s), x0 + 6.0 * static_cast<double>(o.label.size()));
    std::size_t r = 0;
    while (r < right.size() && right[r] > x0) ++r;
    if (r == right.size()) right.push_back(0);
    right[r] = end + 4;
    rows.push_back(static_cast<int>(r));
  }
  return rows;
}

std::string operations_lane(const std::vector<Stretch>& ops, const std::vector<int>& rows, const Axis& a, double top,
                            double h) {
  std::string out = R"(<g class="operations">)";
  out += fmt::format(R"(<text class="panel" x="8" y="{}">operations</text>)", top + h - 6);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& o = ops[i];
    const double y = top + (h + 2) * rows[i];
    const std::string cls = o.failed ? "operation failed" : "operation";
    out += band(cls.c_str(), a, o.from_s, o.to_s, y, y + h, o.label);
    out += fmt::format(R"(<text class="oplabel" x="{:.1f}" y="{}">{}</text>)", a.x(o.from_s) + 2, y + h - 6,
                       xml_escape(o.label));
  }
  return out + "</g>";
}

std::string markers(const std::vector<Marker>& ms, const Axis& a, double top, double bottom) {
  std::string out;
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const double x = a.x(ms[i].t_s);
    out += fmt::format(
        R"(<g class="marker" data-name="{0}" data-t-s="{1}"><line x1="{2:.1f}" x2="{2:.1f}" y1="{3}" y2="{4}"/><text x="{2:.1f}" y="{5}" text-anchor="middle">{0}</text><title>{0} at {1} s</title></g>)",
        xml_escape(ms[i].name), fmt_s(ms[i].t_s), x, top, bottom, top - 4 - 12.0 * static_cast<double>(i % 3));
  }
  return out;
}

}  // namespace

std::string timeline_svg(const RunTimeline& t) {
  const Axis a{std::max(t.end_s, 0.001)};
  const double top = 50, writes_h = 90, lat_h = 70, lane_h = 20, gap = 8;
  const double lanes_top = top + writes_h + gap + lat_h + gap;
  const double ops_top = lanes_top + static_cast<double>(t.lanes.size()) * (lane_h + 4);
  const std::vector<int> op_rows = operation_rows(t.operations, a);
  const int n_rows = op_rows.empty() ? 0 : *std::max_element(op_rows.begin(), op_rows.end()) + 1;
  const double bottom = ops_top + n_rows * (lane_h + 2);
  std::string out = fmt::format(
      R"(<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {1}" width="{0}" height="{1}" data-end-s="{2}">)",
      kWidth, bottom + 24, fmt_s(t.end_s));
  for (const auto& f : t.faults)
    out += band(f.ended ? "fault-window" : "fault-window unhealed", a, f.from_s, f.to_s, top, bottom, f.label);
  for (const auto& f : t.faults)
    out += fmt::format(R"(<text class="faultlabel" x="{:.1f}" y="{}">{}</text>)", a.x(f.from_s) + 3, top + 12,
                       xml_escape(f.label));
  for (const auto& w : t.marked)
    out += band(("checker-window " + w.kind).c_str(), a, w.from_s, w.to_s, top, bottom, w.label,
                fmt::format(R"( data-kind="{}")", xml_escape(w.kind)));
  out += time_axis(a, top, bottom);
  out += writes_panel(t, a, top, writes_h);
  out += latency_panel(t, a, top + writes_h + gap, lat_h);
  double y = lanes_top;
  for (const auto& [node, segs] : t.lanes) {
    out += lane(node, segs, a, y, lane_h);
    y += lane_h + 4;
  }
  if (!t.operations.empty()) out += operations_lane(t.operations, op_rows, a, ops_top, lane_h);
  out += markers(t.markers, a, top, bottom);
  return out + "</svg>";
}

namespace {

// A bar's segment [from, to] with its label above it, raised by `level`
// lines so that the labels of short neighbours do not overlap.
std::string phase_segment(const char* cls, double x0, double x1, double y, double h, const std::string& name,
                          double secs, int level = 0) {
  return fmt::format(
      R"(<g class="phase {0}" data-phase="{1}" data-s="{2}"><rect x="{3:.1f}" y="{4}" width="{5:.1f}" height="{6}"/><text x="{7:.1f}" y="{8}" text-anchor="middle">{1} {2} s</text></g>)",
      cls, xml_escape(name), fmt_s(secs), x0, y, std::max(x1 - x0, 1.0), h, (x0 + x1) / 2, y - 4 - 12 * level);
}

// The label level of each of a row's segments: a label that would reach
// into the previous label of its level goes one level up (at most 3).
class LabelLevels {
 public:
  int place(double x0, double x1, const std::string& text) {
    const double mid = (x0 + x1) / 2, half = 3.2 * static_cast<double>(text.size());
    for (int level = 0; level < 3; ++level) {
      if (mid - half > right_[level]) {
        right_[level] = mid + half;
        return level;
      }
    }
    right_[2] = std::max(right_[2], mid + half);
    return 2;
  }

 private:
  double right_[3] = {-1e9, -1e9, -1e9};
};

}  // namespace

std::string phase_bar_svg(const nlohmann::json& row) {
  // Points on the way from the inject to the first write, in time order.
  std::vector<std::pair<double, std::string>> points;
  for (const auto& [key, name] : {std::pair{"detect_s", "detect"},
                                  {"promote_s", "promote"},
                                  {"vip_s", "VIP"},
                                  {"dns_s", "DNS"},
                                  {"failover_s", "first write"}})
    if (const auto v = json_number(row, key)) points.emplace_back(*v, name);
  const auto redo = json_number(row, "redo_s"), ckpt = json_number(row, "checkpoint_s");
  if (points.empty() && !redo && !ckpt) return "";
  std::stable_sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double end = points.empty() ? 0 : points.back().first;
  const auto promote = json_number(row, "promote_s");
  end = std::max(end, (promote ? *promote : 0) + (ckpt ? *ckpt : 0));
  const Axis a{std::max(end, 0.001)};
  std::string out = fmt::format(
      R"(<svg class="phasebar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} 150" width="{0}" height="150">)",
      kWidth);
  out += R"(<text class="panel" x="8" y="54">from the inject</text>)";
  double prev = 0;
  int k = 0;
  LabelLevels levels;
  for (const auto& [t, name] : points) {
    const int level = levels.place(a.x(prev), a.x(t), fmt::format("{} {} s", name, fmt_s(t - prev)));
    out += phase_segment(fmt::format("p{}", k++ % 5).c_str(), a.x(prev), a.x(t), 40, 18, name, t - prev, level);
    prev = t;
  }
  // Redo and checkpoint: both before the promotion when they fit there (crash
  // recovery: the server accepts connections after them), else from it on.
  const double rc = (redo ? *redo : 0) + (ckpt ? *ckpt : 0);
  const double at = promote && *promote >= rc ? *promote - rc : (promote ? *promote : 0);
  out += R"(<text class="panel" x="8" y="122">recovery (log)</text>)";
  LabelLevels rlevels;
  if (redo) {
    const int level = rlevels.place(a.x(at), a.x(at + *redo), fmt::format("redo {} s", fmt_s(*redo)));
    out += phase_segment("redo", a.x(at), a.x(at + *redo), 108, 18, "redo", *redo, level);
  }
  if (ckpt) {
    const double c0 = at + (redo ? *redo : 0);
    const int level = rlevels.place(a.x(c0), a.x(c0 + *ckpt), fmt::format("checkpoint {} s", fmt_s(*ckpt)));
    out += phase_segment("checkpoint", a.x(c0), a.x(c0 + *ckpt), 108, 18, "checkpoint", *ckpt, level);
  }
  out += time_axis(a, 10, 130);
  return out + "</svg>";
}

std::string groups_svg(const std::vector<GroupFigures>& groups) {
  double end = 0.001;
  for (const auto& g : groups)
    for (const double v : g.failover_s) end = std::max(end, v);
  const Axis a{end * 1.05};
  const double row_h = 84, top = 10;
  const double bottom = top + row_h * static_cast<double>(groups.size());
  std::string out = fmt::format(
      R"(<svg class="groups" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {1}" width="{0}" height="{1}">)",
      kWidth, bottom + 24);
  double y = top;
  for (const auto& g : groups) {
    out += fmt::format(R"(<g class="group" data-name="{}" data-n="{}"><text class="panel" x="8" y="{}">{}</text>)",
                       xml_escape(g.name), g.failover_s.size(), y + 14, xml_escape(g.name));
    if (!g.ratio.empty())
      out += fmt::format(R"(<text class="panel small" x="8" y="{}">ratio {}</text>)", y + 28, xml_escape(g.ratio));
    for (const double v : g.failover_s)
      out += fmt::format(R"(<circle class="run" cx="{:.1f}" cy="{}" r="4" data-failover-s="{}"/>)", a.x(v), y + 12,
                         fmt_s(v));
    if (g.median_s)
      out += fmt::format(R"(<line class="median" x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" data-s="{3}"/>)",
                         a.x(*g.median_s), y + 2, y + 22, fmt_s(*g.median_s));
    double prev = 0;
    int k = 0;
    LabelLevels levels;
    for (const auto& [v, name] :
         {std::pair{g.median_detect_s, "detect"}, {g.median_promote_s, "promote"}, {g.median_s, "first write"}}) {
      if (!v || *v < prev) continue;
      const int level = levels.place(a.x(prev), a.x(*v), fmt::format("{} {} s", name, fmt_s(*v - prev)));
      out += phase_segment(fmt::format("p{}", k++).c_str(), a.x(prev), a.x(*v), y + 58, 14, name, *v - prev, level);
      prev = *v;
    }
    std::string rc;
    if (g.median_redo_s) rc += fmt::format("redo {} s ", fmt_s(*g.median_redo_s));
    if (g.median_checkpoint_s) rc += fmt::format("checkpoint {} s", fmt_s(*g.median_checkpoint_s));
    if (!rc.empty()) out += fmt::format(R"(<text class="panel small" x="8" y="{}">{}</text>)", y + 70, xml_escape(rc));
    out += "</g>";
    y += row_h;
  }
  return out + time_axis(a, top, bottom) + "</svg>";
}

std::string memory_svg(const std::vector<MemorySeries>& memory, double end_s) {
  double hi = 1;
  for (const auto& s : memory)
    for (const auto& p : s.points) hi = std::max(hi, p.second);
  const Axis a{std::max(end_s, 0.001)};
  const double top = 10, h = 200;
  std::string out = fmt::format(
      R"(<svg class="memory" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {1}" width="{0}" height="{1}">)",
      kWidth, top + h + 40 + 14.0 * static_cast<double>(memory.size()));
  out += fmt::format(R"(<text class="panel" x="8" y="{}">RSS, MB</text><text class="panel small" x="8" y="{}">peak )"
                     R"({:.1f}</text>)",
                     top + 14, top + 28, hi);
  int k = 0;
  for (const auto& s : memory) {
    std::string pts;
    for (const auto& [t, mb] : s.points) pts += fmt::format("{:.1f},{:.1f} ", a.x(t), top + h - h * mb / hi);
    out += fmt::format(R"(<polyline class="mem c{}" points="{}" data-series="{}"><title>{}</title></polyline>)", k % 6,
                       pts, xml_escape(s.name), xml_escape(s.name));
    out += fmt::format(R"(<text class="legend c{}" x="{}" y="{}">{}</text>)", k % 6, kLeft, top + h + 36 + 14.0 * k,
                       xml_escape(s.name));
    ++k;
  }
  return out + time_axis(a, top, top + h) + "</svg>";
}

}  // namespace haverify::reports
