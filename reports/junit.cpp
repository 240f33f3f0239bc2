// junit.xml (reports/results.hpp): one <testsuite> per run, as CI systems read
// it (GitLab, Jenkins); valid per docs/junit.xsd.
#include <unistd.h>

#include <array>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "haverify/core/atomic_file.hpp"
#include "reports/results.hpp"

namespace haverify::reports {

namespace {

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return buf.data();
}

// JUnit's timestamp: ISO 8601 without zone or fraction (UTC here, as Ant writes it).
std::string junit_timestamp(const std::string& iso) {
  return iso.size() >= 19 ? iso.substr(0, 19) : std::string();
}

std::string property(const std::string& name, const std::string& value) {
  return fmt::format("        <property name=\"{}\" value=\"{}\"/>\n", xml_escape(name), xml_escape(value));
}

// A verdict that is no pass: a failure, unknown included (a verdict without its evidence).
bool junit_failure(const RunRow& r) {
  return r.verdict == "fail" || r.verdict == "unknown";
}

// The row's non-empty fields `f`, and each checker's status as checker.<name>.
std::string properties(const std::string& suite, const std::vector<std::string>& f) {
  std::string out = "      <properties>\n" + property("suite", suite);
  const auto& h = results_header();
  for (std::size_t i = 0; i < h.size() && i < f.size(); ++i) {
    if (f[i].empty() || h[i] == "reason" || h[i] == "checkers") continue;
    out += property(h[i], f[i]);
  }
  const auto c = std::find(h.begin(), h.end(), "checkers") - h.begin();
  std::istringstream checkers(static_cast<std::size_t>(c) < f.size() ? f[static_cast<std::size_t>(c)] : "");
  for (std::string kv; checkers >> kv;)
    if (const auto eq = kv.find('='); eq != std::string::npos)
      out += property("checker." + kv.substr(0, eq), kv.substr(eq + 1));
  return out + "      </properties>\n";
}

// The row's fields `f` as name=value lines, then the run's files for CI systems to attach.
std::string system_out(const RunRow& r, const std::vector<std::string>& f) {
  std::string so;
  const auto& h = results_header();
  for (std::size_t i = 0; i < h.size() && i < f.size(); ++i) so += h[i] + "=" + f[i] + "\n";
  for (const char* file : {"report.html", "logs", "run.json", "checkers.txt", "events.csv"}) {
    std::error_code ec;
    const auto p = std::filesystem::path(r.run_dir) / file;
    if (!r.run_dir.empty() && std::filesystem::exists(p, ec)) so += fmt::format("[[ATTACHMENT|{}]]\n", p.string());
  }
  return so;
}

std::string run_suite(const std::string& suite, const std::string& host, const RunRow& r) {
  const bool fail = junit_failure(r), error = r.verdict == "error";
  const std::string stamp = junit_timestamp(r.started);
  const auto fields = results_fields(r);
  std::string out = fmt::format(
      "  <testsuite name=\"{}.{}.{} #{}\" tests=\"1\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3f}\"{} "
      "hostname=\"{}\">\n",
      xml_escape(r.kind), xml_escape(r.stack), xml_escape(r.scenario), r.repetition, fail ? 1 : 0, error ? 1 : 0,
      r.duration_s, stamp.empty() ? "" : fmt::format(" timestamp=\"{}\"", stamp), xml_escape(host));
  out += properties(suite, fields);
  out += fmt::format("      <testcase classname=\"{}.{}\" name=\"{} #{}\" time=\"{:.3f}\">\n", xml_escape(r.kind),
                     xml_escape(r.stack), xml_escape(r.scenario), r.repetition, r.duration_s);
  if (fail)
    out += fmt::format("        <failure message=\"{}\" type=\"{}\"/>\n", xml_escape(r.reason), r.verdict);
  else if (error)
    out += fmt::format("        <error message=\"{}\" type=\"harness\"/>\n", xml_escape(r.reason));
  out += "        <system-out>" + xml_escape(system_out(r, fields)) + "</system-out>\n";
  return out + "      </testcase>\n  </testsuite>\n";
}

std::string skipped_suite(const std::string& host, const SkippedRun& s) {
  return fmt::format(
      "  <testsuite name=\"{0}.{1}.{2} #{3}\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\" time=\"0.000\" "
      "hostname=\"{5}\">\n"
      "      <testcase classname=\"{0}.{1}\" name=\"{2} #{3}\" time=\"0.000\">\n"
      "        <skipped message=\"{4}\"/>\n"
      "      </testcase>\n  </testsuite>\n",
      xml_escape(s.kind), xml_escape(s.stack), xml_escape(s.scenario), s.repetition, xml_escape(s.why),
      xml_escape(host));
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
          out += fmt::format("&#{};", static_cast<int>(c));
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

void write_junit_xml(const std::string& path, const std::string& suite, const std::vector<RunRow>& rows,
                     const std::vector<SkippedRun>& skipped) {
  int failures = 0, errors = 0;
  double total = 0;
  for (const auto& r : rows) {
    if (junit_failure(r)) ++failures;
    if (r.verdict == "error") ++errors;
    total += r.duration_s;
  }
  const std::string host = host_name();
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"haverify {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                     xml_escape(suite), rows.size() + skipped.size(), failures, errors, total);
  for (const auto& r : rows) out += run_suite(suite, host, r);
  for (const auto& s : skipped) out += skipped_suite(host, s);
  out += "</testsuites>\n";
  write_file_atomic(path, out);
}

}  // namespace haverify::reports
