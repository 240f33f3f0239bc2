#pragma once
// Strict YAML reading: every error carries file:line:col and the offending key,
// and a key that nothing reads is an error. Modelled on "fail a test on any
// option nobody read" (FoundationDB tester) and ccache's config reader.
#include <chrono>
#include <cstdint>
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

// Loads a YAML file; a syntax error becomes a ConfigError with its position.
YAML::Node load_yaml_file(const std::string& path);
YAML::Node load_yaml_string(const std::string& text, const std::string& name);

// Parses "250ms", "10s", "2m", "1h", "1.5s" or a bare number (seconds).
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

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

  std::optional<std::string> opt_string(const std::string& key);
  std::optional<std::int64_t> opt_int(const std::string& key);
  std::optional<double> opt_double(const std::string& key);
  std::optional<bool> opt_bool(const std::string& key);
  std::optional<std::chrono::milliseconds> opt_duration(const std::string& key);

  std::string req_string(const std::string& key);  // missing -> issue, returns ""
  std::int64_t req_int(const std::string& key);

  std::string get_string(const std::string& key, const std::string& fallback);
  std::int64_t get_int(const std::string& key, std::int64_t fallback);
  double get_double(const std::string& key, double fallback);
  bool get_bool(const std::string& key, bool fallback);
  std::chrono::milliseconds get_duration(const std::string& key, std::chrono::milliseconds fallback);

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
