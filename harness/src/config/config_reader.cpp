#include "haverify/config/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/core/files.hpp"

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

namespace {

// Walks a loaded document once, before any reader looks at it: every mapping
// key must be a plain scalar and appear once. yaml-cpp accepts null, list and
// mapping keys and keeps duplicates; a reader that looked such a key up would
// read the wrong entry (or, with a non-const lookup, insert into the mapping
// it iterates). Aliases can make a small text a huge tree, so the walk is
// bounded in depth and in nodes.
class KeyCheck {
 public:
  explicit KeyCheck(ConfigContext& ctx) : ctx_(ctx) {}
  void walk(const YAML::Node& n, const std::string& path, int depth);

 private:
  void map(const YAML::Node& n, const std::string& path, int depth);
  ConfigContext& ctx_;
  std::size_t visited_ = 0;
  bool too_big_ = false;
};

void KeyCheck::walk(const YAML::Node& n, const std::string& path, int depth) {
  if (too_big_) return;
  if (++visited_ > kMaxYamlNodes || depth > kMaxYamlDepth) {
    too_big_ = true;
    ctx_.error(n, path,
               fmt::format("the document is nested deeper than {} levels or (with aliases) holds more than {} "
                           "values; a haverify file never needs that",
                           kMaxYamlDepth, kMaxYamlNodes));
    return;
  }
  if (n.IsMap()) {
    map(n, path, depth);
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      const YAML::Node item = n[i];  // a copy: operator[] hands out a temporary
      walk(item, fmt::format("{}[{}]", path, i), depth + 1);
    }
  }
}

void KeyCheck::map(const YAML::Node& n, const std::string& path, int depth) {
  std::map<std::string, YAML::Mark> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out temporaries.
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar() || k.Scalar().empty()) {
      const char* what = k.IsSequence() ? "a list" : k.IsMap() ? "a mapping" : "empty (null)";
      ctx_.error(k, path.empty() ? "(top level)" : path,
                 fmt::format("a key must be a plain name, this key is {}", what));
      continue;
    }
    const std::string& name = k.Scalar();
    const std::string child = path.empty() ? name : path + "." + name;
    if (auto [at, fresh] = seen.emplace(name, k.Mark()); !fresh) {
      ctx_.error(k, child,
                 fmt::format("duplicate key (first at line {}); each key may appear once", at->second.line + 1));
      continue;
    }
    walk(v, child, depth + 1);
  }
}

}  // namespace

void check_yaml_keys(const YAML::Node& root, const std::string& name) {
  ConfigContext ctx(name);
  KeyCheck(ctx).walk(root, "", 0);
  ctx.throw_if_errors();
}

YAML::Node load_yaml_string(const std::string& text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw syntax_error(name, e);
  }
  check_yaml_keys(root, name);
  return root;
}

YAML::Node load_yaml_file(const std::string& path) {
  std::string text;
  try {
    text = strip_utf8_bom(read_input_file(path));
  } catch (const InputFileError& e) {
    ConfigIssue issue;
    issue.file = path;
    issue.message = e.reason();
    throw ConfigError({issue});
  }
  return load_yaml_string(text, path);
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  // Digits first: stod would also take leading blanks, "nan", "inf" and hex.
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) return std::nullopt;
  if (text.find_first_of("xX") != std::string::npos) return std::nullopt;  // hex
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
  } else if (unit == "d") {
    ms = value * 86'400'000.0;
  } else {
    return std::nullopt;
  }
  // Compared as a double before the conversion, which would be undefined.
  if (!(ms <= static_cast<double>(kMaxDuration.count()))) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

std::optional<double> parse_finite_number(const std::string& s) {
  const std::size_t digit = s.empty() ? 0 : (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (digit >= s.size() || !(std::isdigit(static_cast<unsigned char>(s[digit])) || s[digit] == '.'))
    return std::nullopt;
  if (s.find_first_of("xXpP") != std::string::npos) return std::nullopt;  // hex floats
  try {
    std::size_t pos = 0;
    const double v = std::stod(s, &pos);
    if (pos == s.size() && std::isfinite(v)) return v;
  } catch (const std::logic_error&) {
    // invalid_argument, out_of_range
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
  const std::int64_t ms = d.count();
  static constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const auto& [size, unit] : kUnits)
    if (ms != 0 && ms % size == 0) return fmt::format("{}{}", ms / size, unit);
  return fmt::format("{}ms", ms);
}

bool valid_name(const std::string& s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x80 && std::isalnum(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool valid_sql_table(const std::string& s) {
  auto part = [](const std::string& p) {
    if (p.empty() || p.size() > 63) return false;
    const auto first = static_cast<unsigned char>(p[0]);
    if (!(std::isalpha(first) || first == '_') || first >= 0x80) return false;
    return std::all_of(p.begin(), p.end(), [](char ch) {
      const auto c = static_cast<unsigned char>(ch);
      return c < 0x80 && (std::isalnum(c) || c == '_');
    });
  };
  const auto dot = s.find('.');
  if (dot == std::string::npos) return part(s);
  return part(s.substr(0, dot)) && part(s.substr(dot + 1));
}

namespace {

// A node that is valid but not defined: what a lookup of an absent key gives.
// yaml-cpp's const lookup gives an *invalid* node instead, on which Type(),
// IsNull() or Mark() throw; its non-const lookup inserts into the mapping. So
// the absent key is looked up in a scratch mapping of its own.
YAML::Node absent_node() {
  YAML::Node scratch(YAML::NodeType::Map);
  return scratch["absent"];
}

// An absent or null mapping reads as an empty one (nothing is written into
// the document).
YAML::Node mapping_or_empty(YAML::Node node) {
  if (!node.IsDefined() || node.IsNull()) return YAML::Node(YAML::NodeType::Map);
  return node;
}

}  // namespace

MapReader::MapReader(ConfigContext& ctx, YAML::Node node, std::string path)
    : ctx_(ctx), node_(mapping_or_empty(node)), path_(std::move(path)) {
  if (!node.IsDefined() || node.IsNull()) {
    valid_ = false;
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

// Lookups go through a const node: yaml-cpp's non-const operator[] inserts a
// missing key into the mapping (which a caller may be iterating).
bool MapReader::has(const std::string& key) const {
  if (!valid_) return false;
  const YAML::Node& map = node_;
  const YAML::Node n = map[key];
  return n.IsDefined() && !n.IsNull();
}

YAML::Node MapReader::child(const std::string& key) {
  read_.insert(key);
  if (!valid_) return YAML::Node();
  const YAML::Node& map = node_;
  const YAML::Node n = map[key];
  return n.IsDefined() ? n : absent_node();
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

std::optional<std::int64_t> MapReader::opt_int(const std::string& key, std::int64_t lo, std::int64_t hi) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string& s = n.Scalar();
  const bool digits = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) ||
                                     (s.size() > 1 && s[0] == '-' && std::isdigit(static_cast<unsigned char>(s[1]))));
  bool in_type = true;
  if (digits) {
    try {
      std::size_t pos = 0;
      const long long v = std::stoll(s, &pos, 10);
      if (pos == s.size() && v >= lo && v <= hi) return v;
      if (pos == s.size()) in_type = false;
    } catch (const std::out_of_range&) {
      in_type = false;
    } catch (const std::invalid_argument&) {
      // reported below
    }
  }
  ctx_.error(n, key_path(key),
             fmt::format("{} '{}': expected a whole number from {} to {}",
                         in_type ? "not a whole number," : "out of range,", s, lo, hi));
  return std::nullopt;
}

std::optional<int> MapReader::opt_port(const std::string& key) {
  const auto v = opt_int(key, 1, 65535);
  if (!v) return std::nullopt;
  return static_cast<int>(*v);
}

int MapReader::get_port(const std::string& key, int fallback) {
  return opt_port(key).value_or(fallback);
}

std::optional<double> MapReader::opt_double(const std::string& key, double lo, double hi) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string& s = n.Scalar();
  if (const auto v = parse_finite_number(s); v && *v >= lo && *v <= hi) return v;
  if (lo == std::numeric_limits<double>::lowest() && hi == std::numeric_limits<double>::max())
    ctx_.error(n, key_path(key), fmt::format("expected a finite number, got '{}'", s));
  else
    ctx_.error(n, key_path(key), fmt::format("expected a number from {} to {}, got '{}'", lo, hi, s));
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

std::optional<std::chrono::milliseconds> MapReader::opt_duration(const std::string& key, DurationRange range) {
  YAML::Node n = scalar(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  auto d = parse_duration(n.Scalar());
  if (!d || *d < range.min || *d > range.max) {
    ctx_.error(n, key_path(key),
               fmt::format("expected a duration from {} to {} such as 500ms, 10s, 2m or 1h, got '{}'",
                           format_duration(range.min), format_duration(range.max), n.Scalar()));
    return std::nullopt;
  }
  return d;
}

std::optional<std::string> MapReader::opt_name(const std::string& key) {
  auto v = opt_string(key);
  if (v && !valid_name(*v)) {
    ctx_.error(child(key), key_path(key), fmt::format("'{}' is not a valid name ({})", *v, kNameRule));
    return std::nullopt;
  }
  return v;
}

std::string MapReader::req_string(const std::string& key) {
  auto v = opt_string(key);
  if (!v) {
    ctx_.error(node_, key_path(key), "required key is missing");
    return {};
  }
  return *v;
}

std::string MapReader::get_string(const std::string& key, const std::string& fallback) {
  return opt_string(key).value_or(fallback);
}
double MapReader::get_double(const std::string& key, double fallback, double lo, double hi) {
  return opt_double(key, lo, hi).value_or(fallback);
}
bool MapReader::get_bool(const std::string& key, bool fallback) {
  return opt_bool(key).value_or(fallback);
}
std::chrono::milliseconds MapReader::get_duration(const std::string& key, std::chrono::milliseconds fallback,
                                                  DurationRange range) {
  return opt_duration(key, range).value_or(fallback);
}

void MapReader::finish() {
  if (!valid_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string k = it->first.as<std::string>("");  // a scalar: check_yaml_keys ran at load
    if (read_.count(k) == 0) {
      ctx_.error(it->first, key_path(k), "unknown key (nothing reads it; check the spelling)");
    }
  }
}

}  // namespace haverify
