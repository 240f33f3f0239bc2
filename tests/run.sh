#!/usr/bin/env bash
# Command 2 of the README: installs dependencies, builds, and runs every test:
#   1. unit tests built with ASan + UBSan (label `unit`), then each file
#      reader's libFuzzer harness for 10 s (tests/fuzz, bench/fuzz.sh);
#   2. the normal build's unit tests, loopback integration tests (`integration`)
#      and the real-lab integration tests (`lab`), which bring the embedded lab
#      up and always tear it down. The `extended` real-lab tests are not run
#      unless asked for: HAVERIFY_TEST_LABELS=extended bash tests/run.sh.
# Set HAVERIFY_TEST_LABELS to run a subset (labels joined by |), e.g. "unit" or "extended".
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/install-deps.sh
jobs=$(nproc)

# The code is clang-formatted (.clang-format); a drift fails the run.
find harness faults reports tests lab bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format --dry-run -Werror
bash lab/check-shell.sh  # the shell scripts (lab/, bench/, tests/) pass shellcheck; a finding fails the run

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHAVERIFY_SANITIZE=ON >/dev/null
cmake --build build-asan --target haverify_unit_tests -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure

# Each file reader fuzzed 10 s (clang, ASan + UBSan; under 1 min in all): a crash,
# leak, hang, OOM or UB fails the run (bench/fuzz.sh runs them long).
bash bench/fuzz.sh --seconds 10

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# The shape of the code (issue 12): no upward include between layers; no
# function over 80 lines, no file over 500 lines without its reason.
python3 tests/checks/layering.py
python3 tests/checks/sizes.py build
cmake --build build -j "$jobs"
# The labels are matched whole (^...$): `lab` is CI's real-lab set; the
# `extended` real-lab tests run with HAVERIFY_TEST_LABELS=extended.
labels="${HAVERIFY_TEST_LABELS:-unit|integration|lab}"
ctest --test-dir build -L "^($labels)\$" --output-on-failure
