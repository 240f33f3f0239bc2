#pragma once
// A loopback test that cannot run because a dependency is missing (no local
// PostgreSQL, no pgpool) is never counted as passed: in CI (CI=true, where
// .ci/run installs everything) it fails; elsewhere the test binary exits 77
// and ctest reports it as skipped (SKIP_RETURN_CODE 77, tests/CMakeLists.txt).
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

namespace haverify::testing {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Set by HAVERIFY_SKIP; tests/integration_main.cpp turns a clean run with it set into exit 77.
inline bool& skipped() {
  static bool s = false;
  return s;
}

inline constexpr int kSkipExitCode = 77;

}  // namespace haverify::testing

#define HAVERIFY_SKIP(why)                                                                      \
  do {                                                                                          \
    if (::haverify::testing::in_ci()) FAIL("a dependency is missing in CI (CI=true): " << why); \
    ::haverify::testing::skipped() = true;                                                      \
    WARN("skipped: " << why);                                                                   \
    return;                                                                                     \
  } while (0)
