#include "haverify/config/config_reader.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace haverify {

std::string ConfigIssue::str() const {
  std::string where = file;
  if (line > 0) where += fmt::format(":{}:{}", line, col);
  if (key.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: key '{}': {}", where, key, message);
}

static std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string out;
  for (const auto& i : issues) {
    if (!out.empty()) out += '\n';
    out += i.str();
  }
  return out;
}

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : UsageError(join_issues(issues)), issues_(std::move(issues)) {}

void ConfigContext::error_at(const YAML::Mark& mark, const std::string& key, const std::string& message) {
  ConfigIssue issue;
  issue.file = file_;
  if (!mark.is_null()) {
    issue.line = mark.line + 1;
    issue.col = mark.column + 1;
  }
  issue.key = key;
  issue.message = message;
  issues_.push_back(std::move(issue));
}

void ConfigContext::error(const YAML::Node& at, const std::string& key, const std::string& message) {
  error_at(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), key, message);
}

void ConfigContext::throw_if_errors() const {
  if (!issues_.empty()) throw ConfigError(issues_);
}

static ConfigError syntax_error(const std::string& name, const YAML::Exception& e) {
  ConfigIssue issue;
  issue.file = name;
  if (!e.mark.is_null()) {
    issue.line = e.mark.line + 1;
    issue.col = e.mark.column + 1;
  }
  issue.message = "YAML syntax error: " + e.msg;
  return ConfigError({issue});
}

YAML::Node load_yaml_string(const std::string& text, const std::string& name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw syntax_error(name, e);
  }
}

YAML::Node load_yaml_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ConfigIssue issue;
    issue.file = path;
    issue.message = "cannot open file (does it exist and is it readable?)";
    throw ConfigError({issue});
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_yaml_string(ss.str(), path);
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range: not a duration
    return std::nullopt;
  }
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  const std::string unit = text.substr(pos);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = value * 1000.0;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m" || unit == "min") {
    ms = value * 60'000.0;
  } else if (unit == "h") {
    ms = value * 3'600'000.0;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

MapReader::MapReader(ConfigContext& ctx, YAML::Node node, std::string path)
    : ctx_(ctx), node_(std::move(node)), path_(std::move(path)) {
  if (!node_.IsDefined() || node_.IsNull()) {
    valid_ = false;
    // reset() rebinds; operator= would write an empty map into the parent document.
    node_.reset(YAML::Node(YAML::NodeType::Map));
    return;
  }
  if (!node_.IsMap()) {
    ctx_.error(node_, path_.empty() ? "(top level)" : path_, "expected a mapping of key: value");
    valid_ = false;
    return;
  }
  valid_ = true;
}

std::string MapReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool MapReader::has(const std::string& key) const {
  return valid_ && node_[key].IsDefined() && !node_[key].IsNull();
}

YAML::Node MapReader::child(const std::string& key) {
  read_.insert(key);
  if (!valid_) return YAML::Node();
  YAML::Node n = node_[key];
  return n;
}

YAML::Node MapReader::scalar(const std::string& key) {
  YAML::Node n = child(key);
  if (!n.IsDefined() || n.IsNull()) return YAML::Node();
  if (!n.IsScalar()) {
    ctx_.error(n, key_path(key), "expected a single value, not a list or mapping");
    return YAML::Node();
  }
  return n;
}

std::optional<std::string> MapReader::opt_string(const std::string& key) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  return n.Scalar();
}

std::optional<std::int64_t> MapReader::opt_int(const std::string& key) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string& s = n.Scalar();
  try {
    std::size_t pos = 0;
    long long v = std::stoll(s, &pos);
    if (pos == s.size()) return v;
  } catch (const std::logic_error&) {
    // invalid_argument, out_of_range: reported below like trailing characters
  }
  ctx_.error(n, key_path(key), fmt::format("expected an integer, got '{}'", s));
  return std::nullopt;
}

std::optional<double> MapReader::opt_double(const std::string& key) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string& s = n.Scalar();
  try {
    std::size_t pos = 0;
    double v = std::stod(s, &pos);
    if (pos == s.size() && std::isfinite(v)) return v;
  } catch (const std::logic_error&) {
    // invalid_argument, out_of_range: reported below like trailing characters
  }
  ctx_.error(n, key_path(key), fmt::format("expected a number, got '{}'", s));
  return std::nullopt;
}

std::optional<bool> MapReader::opt_bool(const std::string& key) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  ctx_.error(n, key_path(key), fmt::format("expected true or false, got '{}'", s));
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> MapReader::opt_duration(const std::string& key) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  auto d = parse_duration(n.Scalar());
  if (!d) {
    ctx_.error(n, key_path(key), fmt::format("expected a duration such as 500ms, 10s, 2m or 1h, got '{}'", n.Scalar()));
  }
  return d;
}

std::string MapReader::req_string(const std::string& key) {
  auto v = opt_string(key);
  if (!v) {
    ctx_.error(node_, key_path(key), "required key is missing");
    return {};
  }
  return *v;
}

std::int64_t MapReader::req_int(const std::string& key) {
  if (!has(key)) {
    read_.insert(key);
    ctx_.error(node_, key_path(key), "required key is missing");
    return 0;
  }
  return opt_int(key).value_or(0);
}

std::string MapReader::get_string(const std::string& key, const std::string& fallback) {
  return opt_string(key).value_or(fallback);
}
std::int64_t MapReader::get_int(const std::string& key, std::int64_t fallback) {
  return opt_int(key).value_or(fallback);
}
double MapReader::get_double(const std::string& key, double fallback) {
  return opt_double(key).value_or(fallback);
}
bool MapReader::get_bool(const std::string& key, bool fallback) {
  return opt_bool(key).value_or(fallback);
}
std::chrono::milliseconds MapReader::get_duration(const std::string& key, std::chrono::milliseconds fallback) {
  return opt_duration(key).value_or(fallback);
}

void MapReader::finish() {
  if (!valid_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string k = it->first.as<std::string>("");
    if (read_.count(k) == 0) {
      ctx_.error(it->first, key_path(k), "unknown key (nothing reads it; check the spelling)");
    }
  }
}

}  // namespace haverify
