#pragma once
// Unit-test helpers: read a whole file; a path in this test process's temp dir.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace haverify::testing {

inline std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string tmpfile(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("haverify-unit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace haverify::testing
