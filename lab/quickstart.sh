#!/usr/bin/env bash
# Command 1 of the README: installs what is needed, builds haverify, brings up
# the embedded pgpool-II lab (3 x PostgreSQL 15), runs the single-fault suite
# against it, prints the summary table and leaves results.csv, events.csv and
# junit.xml under runs/ (runs/latest points at them). The lab is torn down at
# the end, also on failure or Ctrl-C; set HAVERIFY_KEEP_LAB=1 to keep it up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target haverify haverify-lab-init
# shellcheck disable=SC2317  # teardown is run by the EXIT trap
teardown() { [ "${HAVERIFY_KEEP_LAB:-0}" = 1 ] || ./build/haverify lab down; }
trap teardown EXIT
# --fence off: the unfenced lab whose split brain the README describes (the
# fenced default is issue 18's work in progress: docs/lab.md "Fencing").
./build/haverify lab up --stack pgpool --fence off
rc=0
./build/haverify run scenarios/single-fault "$@" || rc=$?
echo "haverify: exit code $rc (0 all verdicts pass, 1 a verdict failed, 2 usage/config error, 3 harness error)"
exit "$rc"
