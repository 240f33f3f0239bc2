#pragma once
// report.html read as a browser reads it (issue 16): headless Chromium
// (Debian's `chromium`) loads the suite's report.html from disk, dumps the DOM
// after its script ran, and takes a screenshot kept in the test's output.
// The DOM's data-* attributes are the figures the charts were drawn from
// (docs/report-html.md).
#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "lab_support.hpp"

namespace labtest {

struct DomWindow {
  double from = 0, to = 0;
  std::string label;  // the node of a lane segment, the kind of a checker window, the fault
};

// Every element of class `cls` (its first class word; more may follow) in `html`.
inline std::vector<DomWindow> dom_windows(const std::string& html, const std::string& cls,
                                          const std::string& label_attr) {
  const std::regex el("<(rect|g)[^>]*class=\"" + cls + "[^\"]*\"[^>]*>");
  std::vector<DomWindow> out;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), el); it != std::sregex_iterator(); ++it) {
    const std::string tag = it->str();
    std::smatch m;
    DomWindow w;
    if (std::regex_search(tag, m, std::regex("data-from-s=\"([-0-9.]+)\""))) w.from = std::stod(m[1]);
    if (std::regex_search(tag, m, std::regex("data-to-s=\"([-0-9.]+)\""))) w.to = std::stod(m[1]);
    if (std::regex_search(tag, m, std::regex(label_attr + "=\"([^\"]*)\""))) w.label = m[1];
    out.push_back(w);
  }
  return out;
}

// The part of the DOM that is run `item`'s section.
inline std::string run_section(const std::string& dom, const std::string& item) {
  const auto a = dom.find("id=\"run-" + item + "\"");
  if (a == std::string::npos) return "";
  const auto b = dom.find("</details>", a);
  return dom.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// Runs Chromium headless on `html` (an absolute path): the DOM after load,
// and a screenshot at `png`. A missing chromium fails the test.
inline std::string chromium_dom(const fs::path& html, const fs::path& png) {
  const auto which = sh("command -v chromium", 10s);
  INFO("chromium is not installed (lab/install-deps.sh installs it)");
  REQUIRE(which.exit_code == 0);
  const std::string common =
      "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run "
      "--user-data-dir=" +
      sh_quote((png.parent_path() / "chromium-profile").string());
  const auto shot = sh(fmt::format("{} --window-size=1280,2400 --screenshot={} {}", common, sh_quote(png.string()),
                                   sh_quote("file://" + html.string())),
                       180s);
  INFO(shot.err);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 20000);
  const auto dom = sh(fmt::format("{} --dump-dom {}", common, sh_quote("file://" + html.string())), 180s);
  INFO(dom.err);
  REQUIRE(dom.exit_code == 0);
  return dom.out;
}

// events.csv's nemesis rows of f `f` and type `type`, their t_rel_s.
inline std::vector<double> event_times(const fs::path& events, const std::string& type, const std::string& f) {
  std::vector<double> out;
  std::istringstream in(slurp(events));
  std::string line;
  while (std::getline(in, line)) {
    // time,t_rel_s,process,type,f,value,node,error
    std::vector<std::string> c;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) c.push_back(cell);
    if (c.size() >= 5 && c[2] == "nemesis" && c[3] == type && c[4] == f) out.push_back(std::stod(c[1]));
  }
  return out;
}

// The split-brain windows single_writer wrote into run.json.
inline std::vector<DomWindow> run_json_split_brain(const fs::path& run_json) {
  const auto j = nlohmann::json::parse(slurp(run_json));
  std::vector<DomWindow> out;
  for (const auto& c : j.at("checkers"))
    if (c.at("checker") == "single_writer" && c.contains("windows"))
      for (const auto& w : c["windows"])
        if (w.at("kind") == "split_brain") out.push_back({w.at("from_s"), w.at("to_s"), "split_brain"});
  return out;
}

// The run `run_dir` of the suite in `suite_dir` failed with a split brain:
// its report section shows the fault window at the inject .. heal of
// events.csv, the checker's split-brain windows (and no other), each
// beginning inside the fault window, and two nodes' writable lanes in each.
inline void check_split_brain_report(const fs::path& suite_dir, const fs::path& run_dir) {
  const fs::path html = fs::absolute(suite_dir / "report.html");
  REQUIRE(fs::exists(html));
  const std::string dom = chromium_dom(html, suite_dir / "report.png");
  // The script ran: the table's filter line says how many runs it shows.
  CHECK(std::regex_search(dom, std::regex("id=\"f-shown\">[0-9]+ of [0-9]+ runs<")));
  const std::string sec = run_section(dom, run_dir.filename().string());
  REQUIRE_FALSE(sec.empty());
  CHECK(sec.find("data-verdict=\"fail\"") != std::string::npos);
  const auto faults = dom_windows(sec, "fault-window", "data-label");
  const auto injects = event_times(run_dir / "events.csv", "invoke", "inject");
  const auto heals = event_times(run_dir / "events.csv", "ok", "heal");
  REQUIRE_FALSE(faults.empty());
  REQUIRE_FALSE(injects.empty());
  REQUIRE_FALSE(heals.empty());
  INFO("fault window " << faults.front().from << " .. " << faults.front().to << " (" << faults.front().label << ")");
  // events.csv and the timeline count from the same first op, each rounded to 1 ms.
  CHECK(std::abs(faults.front().from - *std::min_element(injects.begin(), injects.end())) < 0.0025);
  CHECK(std::abs(faults.front().to - *std::max_element(heals.begin(), heals.end())) < 0.0025);
  const auto split = dom_windows(sec, "checker-window split_brain", "data-kind");
  const auto expected = run_json_split_brain(run_dir / "run.json");
  REQUIRE_FALSE(expected.empty());
  REQUIRE(split.size() == expected.size());
  const auto writable = dom_windows(sec, "lane-seg writable", "data-node");
  for (std::size_t i = 0; i < split.size(); ++i) {
    INFO("split brain " << split[i].from << " .. " << split[i].to);
    CHECK(std::abs(split[i].from - expected[i].from) < 0.002);
    CHECK(std::abs(split[i].to - expected[i].to) < 0.002);
    // The fault made it: it begins inside the fault window (it may outlast the heal: the old
    // primary stays writable until pgpool or the next check stops it).
    CHECK(split[i].from >= faults.front().from);
    CHECK(split[i].from <= faults.front().to);
    std::set<std::string> nodes;  // the nodes drawn writable in the split-brain window
    for (const auto& w : writable)
      if (std::min(w.to, split[i].to) > std::max(w.from, split[i].from)) nodes.insert(w.label);
    CHECK(nodes.size() >= 2);
  }
  WARN(fmt::format("report.html: fault {:.3f}..{:.3f} s, {} split-brain window(s) from {:.3f} s; screenshot {}",
                   faults.front().from, faults.front().to, split.size(), split.front().from,
                   (suite_dir / "report.png").string()));
}

}  // namespace labtest
