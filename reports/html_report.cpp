#include "reports/html_report.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "haverify/core/atomic_file.hpp"
#include "haverify/core/numbers.hpp"
#include "reports/comparison.hpp"
#include "reports/html_charts.hpp"
#include "reports/merge.hpp"
#include "reports/results_read.hpp"

namespace haverify::reports {

namespace fs = std::filesystem;

namespace {

// The page's own style and script: nothing is fetched.
constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px}h3{font-size:15px;margin:8px 0}
.counts span{margin-right:14px}.v-pass{color:#1a7f37}.v-fail{color:#c62828}.v-unknown{color:#b26a00}.v-error{color:#6a1b9a}
table.suite{border-collapse:collapse;width:100%;font-size:13px}
table.suite th,table.suite td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
table.suite th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
table.suite td.n{text-align:right;font-variant-numeric:tabular-nums}
.filters{margin:8px 0}.filters label{margin-right:12px}
details.run{border:1px solid #ddd;border-radius:4px;margin:10px 0;padding:4px 10px}
details.run>summary{cursor:pointer;font-weight:600}
.reason{white-space:pre-wrap;font-size:13px}table.suite td:last-child{font-size:12px;overflow-wrap:anywhere;max-width:32em}.note{color:#b26a00}
ul.checkers{font-size:13px;margin:4px 0;padding-left:18px}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
svg text{font:11px system-ui,sans-serif;fill:#333}svg text.small{font-size:10px;fill:#666}
svg .grid{stroke:#eee}svg .tick{fill:#777;font-size:10px}
svg .acks{fill:#9ecae1;stroke:#3182bd;stroke-width:.6}svg .fails{fill:#e53935}
svg .p50{fill:none;stroke:#31a354;stroke-width:1}svg .p99{fill:none;stroke:#e6550d;stroke-width:1}
svg .p50-key{fill:#31a354}svg .p99-key{fill:#e6550d}
svg .lane-seg.writable{fill:#1f5fbf}svg .lane-seg.standby{fill:#a6c8ee}svg .lane-seg.read-only{fill:#8e6cc0}
svg .lane-seg.down{fill:#9e9e9e}svg .lane-seg.unknown{fill:#f1f1f1}
svg .fault-window{fill:#ff9800;fill-opacity:.16;stroke:#ff9800;stroke-opacity:.6}
svg .faultlabel{fill:#b45f00;font-weight:600}
svg .checker-window.split_brain{fill:#d50000;fill-opacity:.35;stroke:#d50000}
svg .checker-window.unknown{fill:#ffd600;fill-opacity:.35;stroke:#b59b00}
svg .operation{fill:#c7e9c0;stroke:#41ab5d}svg .operation.failed{fill:#fcbba1;stroke:#cb181d}
svg .oplabel{font-size:10px}
svg .marker line{stroke:#444;stroke-dasharray:3 2}svg .marker text{font-size:10px;fill:#222}
svg .phase rect{stroke:#fff}svg .p0 rect{fill:#6baed6}svg .p1 rect{fill:#fd8d3c}svg .p2 rect{fill:#74c476}
svg .p3 rect{fill:#9e9ac8}svg .p4 rect{fill:#fdd0a2}svg .redo rect{fill:#e377c2}svg .checkpoint rect{fill:#bcbd22}
svg circle.run{fill:#3182bd;fill-opacity:.7}svg line.median{stroke:#c62828;stroke-width:2}
svg .mem{fill:none;stroke-width:1.2}svg .c0{stroke:#1f77b4;fill:#1f77b4}svg .c1{stroke:#ff7f0e;fill:#ff7f0e}
svg .c2{stroke:#2ca02c;fill:#2ca02c}svg .c3{stroke:#d62728;fill:#d62728}svg .c4{stroke:#9467bd;fill:#9467bd}
svg .c5{stroke:#8c564b;fill:#8c564b}svg polyline.mem{fill:none}
.key span{display:inline-block;margin-right:12px;font-size:12px}.key i{display:inline-block;width:12px;height:10px;margin-right:4px}
)";

constexpr const char* kScript = R"(
(function(){
const t=document.querySelector('table.suite');if(!t)return;
const body=t.tBodies[0];const rows=[...body.rows];
const sel={verdict:document.getElementById('f-verdict'),stack:document.getElementById('f-stack'),fault:document.getElementById('f-fault')};
function apply(){let shown=0;for(const r of rows){let ok=true;for(const k in sel){const v=sel[k].value;if(v&&r.dataset[k]!==v)ok=false;}
r.hidden=!ok;if(ok)shown++;}document.getElementById('f-shown').textContent=shown+' of '+rows.length+' runs';}
for(const k in sel)sel[k].addEventListener('change',apply);
[...t.tHead.rows[0].cells].forEach((th,i)=>{let asc=true;th.addEventListener('click',()=>{
const num=th.classList.contains('n');rows.sort((a,b)=>{const x=a.cells[i].dataset.v??a.cells[i].textContent,y=b.cells[i].dataset.v??b.cells[i].textContent;
if(num){const p=x===''?Infinity:+x,q=y===''?Infinity:+y;return asc?p-q:q-p;}return asc?x.localeCompare(y):y.localeCompare(x);});
asc=!asc;for(const r of rows)body.appendChild(r);});});apply();
function openHash(){const d=document.getElementById(decodeURIComponent(location.hash.slice(1)));if(d&&d.tagName==='DETAILS')d.open=true;}
window.addEventListener('hashchange',openHash);openHash();})();
)";

std::string text_of(const nlohmann::json& row, const char* key) {
  if (!row.contains(key) || row[key].is_null()) return "";
  if (row[key].is_string()) return row[key].get<std::string>();
  return format_figure(key, row[key].get<double>());
}

std::string item_of(const RunRow& r) {
  return fs::path(r.run_dir).filename().string();
}

struct TableColumn {
  const char* key;
  const char* title;
  bool numeric;
};

constexpr TableColumn kColumns[] = {
    {"scenario", "scenario", false},
    {"stack", "stack", false},
    {"disk", "disk", false},
    {"fault", "fault", false},
    {"target", "target", false},
    {"repetition", "rep", true},
    {"verdict", "verdict", false},
    {"failover_s", "failover_s", true},
    {"detect_s", "detect_s", true},
    {"promote_s", "promote_s", true},
    {"redo_s", "redo_s", true},
    {"checkpoint_s", "checkpoint_s", true},
    {"lost_acked", "lost_acked", true},
    {"split_brain_windows", "split brain", true},
    {"reason", "reason", false},
};

std::string options_of(const std::set<std::string>& values) {
  std::string out = R"(<option value="">all</option>)";
  for (const auto& v : values) out += fmt::format(R"(<option value="{0}">{0}</option>)", xml_escape(v));
  return out;
}

std::string suite_table(const std::vector<nlohmann::json>& rows, const std::vector<std::string>& items) {
  std::set<std::string> verdicts, stacks, faults;
  for (const auto& r : rows) {
    verdicts.insert(text_of(r, "verdict"));
    stacks.insert(text_of(r, "stack"));
    faults.insert(text_of(r, "fault"));
  }
  std::string out = fmt::format(
      R"(<div class="filters"><label>verdict <select id="f-verdict">{}</select></label><label>stack <select id="f-stack">{}</select></label><label>fault <select id="f-fault">{}</select></label><span id="f-shown"></span></div>)",
      options_of(verdicts), options_of(stacks), options_of(faults));
  out += R"(<table class="suite"><thead><tr><th>run</th>)";
  for (const auto& c : kColumns) out += fmt::format(R"(<th class="{}">{}</th>)", c.numeric ? "n" : "", c.title);
  out += "</tr></thead><tbody>";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out += fmt::format(R"(<tr data-verdict="{}" data-stack="{}" data-fault="{}"><td><a href="#run-{}">{}</a></td>)",
                       xml_escape(text_of(r, "verdict")), xml_escape(text_of(r, "stack")),
                       xml_escape(text_of(r, "fault")), xml_escape(items[i]), xml_escape(items[i]));
    for (const auto& c : kColumns) {
      const std::string v = text_of(r, c.key);
      const std::string raw = c.numeric && r.contains(c.key) && r[c.key].is_number() ? r[c.key].dump() : v;
      const std::string cls = c.numeric ? "n" : (std::string(c.key) == "verdict" ? "v-" + v : "");
      out += fmt::format(R"(<td class="{}" data-v="{}">{}</td>)", cls, xml_escape(raw), xml_escape(v));
    }
    out += "</tr>";
  }
  return out + "</tbody></table>";
}

// The architects' chart: only when there is something to compare (two
// groups of one scenario with a failover_s, or a group of several runs).
std::string groups_section(const std::vector<RunRow>& rows) {
  std::vector<CompareRun> runs;
  for (const auto& r : rows) runs.push_back(to_compare_run(r));
  const auto groups = group_runs(runs);
  const auto cmp = compare_groups(groups, ComparisonOptions{});
  std::vector<GroupFigures> figs;
  std::map<std::string, std::size_t> per_scenario;  // groups with a failover per scenario
  std::size_t most = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    GroupFigures g;
    g.name = groups[i].scenario + " · " + group_name(groups[i].stack, groups[i].profile, groups[i].disk);
    for (const auto& r : groups[i].runs)
      if (r.failover_s) g.failover_s.push_back(*r.failover_s);
    const auto& c = cmp[i];
    g.median_s = summary_part(c.failover, &Summary::median);
    g.median_detect_s = c.median_detect_s;
    g.median_promote_s = c.median_promote_s;
    g.median_redo_s = c.median_redo_s;
    g.median_checkpoint_s = c.median_checkpoint_s;
    if (c.ratio_median)
      g.ratio = c.ratio_ci ? fmt::format("{:.2f} [{:.2f}-{:.2f}]", *c.ratio_median, c.ratio_ci->low, c.ratio_ci->high)
                           : fmt::format("{:.2f}", *c.ratio_median);
    per_scenario[groups[i].scenario] += !g.failover_s.empty();
    most = std::max(most, g.failover_s.size());
    figs.push_back(std::move(g));
  }
  const bool stacks_side_by_side =
      std::any_of(per_scenario.begin(), per_scenario.end(), [](const auto& p) { return p.second >= 2; });
  if (!stacks_side_by_side && most < 2) return "";
  return "<h2>failover_s per group, and the median phases</h2>" + groups_svg(figs);
}

std::string checkers_list(const nlohmann::json& run) {
  if (!run.contains("checkers") || !run["checkers"].is_array()) return "";
  std::string out = R"(<ul class="checkers">)";
  for (const auto& c : run["checkers"]) {
    const std::string status = c.value("status", std::string());
    out += fmt::format(R"(<li data-checker="{0}" data-status="{1}"><b>{0}</b> <span class="v-{1}">{1}</span>)",
                       xml_escape(c.value("checker", std::string())), xml_escape(status));
    if (c.contains("reasons") && c["reasons"].is_array())
      for (const auto& r : c["reasons"])
        if (r.is_string()) out += "<br>" + xml_escape(r.get<std::string>());
    out += "</li>";
  }
  return out + "</ul>";
}

const char* kLaneKey =
    R"(<div class="key"><span><i style="background:#1f5fbf"></i>writable</span><span><i style="background:#a6c8ee"></i>standby</span><span><i style="background:#8e6cc0"></i>read-only</span><span><i style="background:#9e9e9e"></i>not answering</span><span><i style="background:#ff9800;opacity:.4"></i>fault</span><span><i style="background:#d50000;opacity:.5"></i>split brain</span><span><i style="background:#ffd600;opacity:.5"></i>unknown (a node unseen)</span></div>)";

// The memory_growth checker's fitted slope, the lower end of its confidence
// interval and its verdict over the memory chart.
std::string memory_heading(const nlohmann::json& run) {
  std::string fit = "no memory_growth verdict";
  if (run.contains("checkers") && run["checkers"].is_array())
    for (const auto& c : run["checkers"])
      if (c.value("checker", std::string()) == "memory_growth" && c.contains("figures")) {
        const auto& f = c["figures"];
        fit = fmt::format("memory_growth {}: worst slope {} MB/h, its 95% lower bound {} MB/h",
                          c.value("status", std::string()), text_of(f, "max_rss_slope_mb_h"),
                          text_of(f, "max_rss_slope_lower_mb_h"));
      }
  return fmt::format("<h3>memory (RSS)</h3><p>{}</p>", xml_escape(fit));
}

// Open: a run that did not pass, or the only run.
std::string run_section(const nlohmann::json& run, const std::string& item, const std::string& dir, bool open) {
  const auto& r = run["row"];
  const std::string verdict = text_of(r, "verdict");
  std::string out = fmt::format(
      R"(<details class="run" id="run-{0}" data-verdict="{1}"{2}><summary>{0}: <span class="v-{1}">{1}</span>{3}</summary>)",
      xml_escape(item), xml_escape(verdict), open || verdict != "pass" ? " open" : "",
      r.contains("failover_s") && r["failover_s"].is_number() ? fmt::format(", failover {} s", text_of(r, "failover_s"))
                                                              : std::string());
  out += fmt::format(R"(<div class="reason">{}</div>)", xml_escape(text_of(r, "reason")));
  out += phase_bar_svg(r);
  if (dir.empty()) return out + R"(<p class="note">run directory not found</p></details>)";
  const RunTimeline t = read_run_timeline(dir);
  out += kLaneKey + timeline_svg(t);
  if (!t.memory.empty()) {
    out += memory_heading(run);
    out += memory_svg(t.memory, t.end_s);
  }
  if (!t.note.empty()) out += fmt::format(R"(<p class="note">{}</p>)", xml_escape(t.note));
  return out + checkers_list(run) + "</details>";
}

std::string run_dir_of(const RunRow& row, const std::vector<std::string>& roots) {
  std::error_code ec;
  if (!row.run_dir.empty() && fs::is_directory(row.run_dir, ec)) return row.run_dir;
  for (const auto& root : roots) {
    const fs::path alt = fs::path(root) / item_of(row);
    if (!root.empty() && fs::is_directory(alt, ec)) return alt.string();
  }
  return "";
}

}  // namespace

std::string report_html(const SummaryInfo& info, const std::vector<RunRow>& rows,
                        const std::vector<std::string>& roots) {
  std::vector<std::string> where{info.out};
  where.insert(where.end(), roots.begin(), roots.end());
  std::vector<nlohmann::json> runs, typed;  // each row's run.json, and its typed row
  std::vector<std::string> items;
  std::map<std::string, std::size_t> counts;
  for (const auto& r : rows) {
    runs.push_back(run_json(r));
    typed.push_back(runs.back()["row"]);
    items.push_back(item_of(r));
    ++counts[r.verdict];
  }
  std::string out = fmt::format(
      R"(<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>haverify {0}</title><style>{1}</style></head><body><h1>haverify: {0}</h1><p>started {2}, written {3} by haverify {4}</p><p class="counts">)",
      xml_escape(info.suite), kStyle, xml_escape(info.started), format_wall_ns(wall_now_ns()), HAVERIFY_VERSION);
  out += fmt::format(R"(<span>{} run(s)</span>)", rows.size());
  for (const char* v : {"pass", "fail", "unknown", "error"})
    out += fmt::format(R"(<span class="v-{0}" data-count="{0}">{1} {0}</span>)", v, counts[v]);
  out += "</p>" + suite_table(typed, items) + groups_section(rows) + "<h2>runs</h2>";
  for (std::size_t i = 0; i < rows.size(); ++i)
    out += run_section(runs[i], items[i], run_dir_of(rows[i], where), rows.size() == 1);
  return out + "<script>" + kScript + "</script></body></html>\n";
}

void write_report_html(const std::string& path, const SummaryInfo& info, const std::vector<RunRow>& rows,
                       const std::vector<std::string>& roots) {
  write_file_atomic(path, report_html(info, rows, roots));
}

std::size_t rebuild_report_html(const std::string& dir) {
  const std::string results = suite_results_csv(dir);
  SummaryInfo info = suite_info(dir);
  info.out = dir;
  const auto rows = read_results_rows(results).rows;
  write_report_html((fs::path(dir) / "report.html").string(), info, rows);
  return rows.size();
}

}  // namespace haverify::reports
