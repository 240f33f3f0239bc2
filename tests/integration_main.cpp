// The integration tests' main: a run whose only problem is a skipped test
// (HAVERIFY_SKIP, integration/skip.hpp) exits 77, which ctest reports as
// skipped, never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "integration/skip.hpp"

int main(int argc, char* argv[]) {
  const int rc = Catch::Session().run(argc, argv);
  if (rc == 0 && haverify::testing::skipped()) return haverify::testing::kSkipExitCode;
  return rc;
}
