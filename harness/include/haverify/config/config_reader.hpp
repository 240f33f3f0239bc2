#pragma once
// Strict YAML reading: every error carries file:line:col and the offending key,
// and a key that nothing reads is an error. Modelled on "fail a test on any
// option nobody read" (FoundationDB tester) and ccache's config reader.
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "haverify/core/errors.hpp"

namespace haverify {

struct ConfigIssue {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based
  std::string key;
  std::string message;
  std::string str() const;  // "file:line:col: key 'k': message"
};

// Thrown when a configuration file has one or more errors (exit code 2).
class ConfigError : public UsageError {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

// Collects issues for one file.
class ConfigContext {
 public:
  explicit ConfigContext(std::string file) : file_(std::move(file)) {}
  void error(const YAML::Node& at, const std::string& key, const std::string& message);
  void error_at(const YAML::Mark& mark, const std::string& key, const std::string& message);
  const std::string& file() const { return file_; }
  const std::vector<ConfigIssue>& issues() const { return issues_; }
  // Throws ConfigError if any issue was recorded.
  void throw_if_errors() const;

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

// Bounds of a document: deeper nesting, or more values (aliases expand), is
// refused before any reader walks it.
inline constexpr int kMaxYamlDepth = 64;
inline constexpr std::size_t kMaxYamlNodes = 200'000;

// Loads a YAML file (a regular file, core/files.hpp); a syntax error becomes a
// ConfigError with its position. Every mapping key of the document must be a
// non-empty plain scalar that appears once in its mapping (check_yaml_keys).
YAML::Node load_yaml_file(const std::string& path);
YAML::Node load_yaml_string(const std::string& text, const std::string& name);
// Throws ConfigError for a null, list, mapping or duplicate key (file:line:col).
void check_yaml_keys(const YAML::Node& root, const std::string& name);

// The longest duration any key takes (a long-run soak included).
inline constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(24 * 30);

// Parses "250ms", "10s", "2m", "1h", "1.5s" or a bare number (seconds);
// nullopt for anything else, a negative, NaN or infinite value, or more than
// kMaxDuration.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);
// A decimal number such as 12, -0.5 or 1e3; nullopt for NaN, infinities,
// hex, blanks or trailing text.
std::optional<double> parse_finite_number(const std::string& text);
// "500ms", "10s", "2m", "1h", "30d": the shortest exact form.
std::string format_duration(std::chrono::milliseconds d);

// The bounds of a duration key: [min, max].
struct DurationRange {
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max = kMaxDuration;
};
// Timeouts, deadlines and intervals: at least 1ms.
inline constexpr DurationRange kPositiveDuration{std::chrono::milliseconds(1), kMaxDuration};

// Names that end up in shell commands, file names and plan ids (nodes, LANs,
// interfaces, plan ids, fault ids): 1-63 of A-Z a-z 0-9 '_' '-' '.', starting
// with a letter or digit. kNameRule says so in messages.
bool valid_name(const std::string& s, std::size_t max_len = 63);
inline constexpr const char* kNameRule =
    "1 to 63 characters of A-Z, a-z, 0-9, '_', '-' and '.', starting with a letter or digit";
// An SQL table name: [schema.]table, each part starting with a letter or '_'
// followed by letters, digits or '_' (at most 63 each).
bool valid_sql_table(const std::string& s);

// A view of one YAML mapping that remembers which keys were read.
class MapReader {
 public:
  MapReader(ConfigContext& ctx, YAML::Node node, std::string path);
  ~MapReader() = default;
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool valid() const { return valid_; }
  bool has(const std::string& key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }

  // Returns the raw child and marks the key read (null node if absent).
  YAML::Node child(const std::string& key);

  // Every reader below reports a value of the wrong kind or out of its
  // bounds (the message names the bounds) and returns nullopt / the fallback.
  std::optional<std::string> opt_string(const std::string& key);
  // An integer in [lo, hi] (no silent narrowing: pass the bounds of the type it is stored in).
  std::optional<std::int64_t> opt_int(const std::string& key, std::int64_t lo, std::int64_t hi);
  // A finite number in [lo, hi]; NaN and infinities are refused.
  std::optional<double> opt_double(const std::string& key, double lo = std::numeric_limits<double>::lowest(),
                                   double hi = std::numeric_limits<double>::max());
  std::optional<bool> opt_bool(const std::string& key);
  std::optional<std::chrono::milliseconds> opt_duration(const std::string& key, DurationRange range = {});
  std::optional<int> opt_port(const std::string& key);  // 1..65535

  std::string req_string(const std::string& key);  // missing -> issue, returns ""

  std::string get_string(const std::string& key, const std::string& fallback);
  template <class T>
  T get_int(const std::string& key, T fallback, T lo = std::numeric_limits<T>::min(),
            T hi = std::numeric_limits<T>::max()) {
    return static_cast<T>(opt_int(key, lo, hi).value_or(fallback));
  }
  double get_double(const std::string& key, double fallback, double lo = std::numeric_limits<double>::lowest(),
                    double hi = std::numeric_limits<double>::max());
  bool get_bool(const std::string& key, bool fallback);
  std::chrono::milliseconds get_duration(const std::string& key, std::chrono::milliseconds fallback,
                                         DurationRange range = {});
  int get_port(const std::string& key, int fallback);
  // A name (valid_name); a bad one is reported with kNameRule.
  std::optional<std::string> opt_name(const std::string& key);

  // Reports every key present but never read. Call once after reading.
  void finish();

  ConfigContext& ctx() { return ctx_; }
  std::string key_path(const std::string& key) const;

 private:
  YAML::Node scalar(const std::string& key);
  ConfigContext& ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
  std::set<std::string> read_;
};

}  // namespace haverify
