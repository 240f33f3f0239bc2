#!/usr/bin/env bash
# Command 1 of the README: installs what is needed, builds haverify, brings up
# the embedded lab, runs the single-fault suite against it, prints the summary
# table and leaves results.csv, events.csv and junit.xml under runs/
# (runs/latest points at them). The lab is torn down at the end, also on
# failure or Ctrl-C; set HAVERIFY_KEEP_LAB=1 to keep it up.
#
# The lab is pgpool-II as the field runs it (stack pgpool-wd: three nodes,
# each PostgreSQL 15 and a pgpool with the watchdog, a delegate IP, quorum and
# consensus; the failover fences the old primary): every verdict should pass,
# exit 0. HAVERIFY_QUICKSTART_LAB replaces the `lab up` arguments, e.g. the
# README's second example, the unfenced single pgpool whose service-LAN cut is
# a split brain haverify reports (exit 1):
#   HAVERIFY_QUICKSTART_LAB="--stack pgpool --fence off" bash lab/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target haverify haverify-lab-init
# shellcheck disable=SC2317  # teardown is run by the EXIT trap
teardown() { [ "${HAVERIFY_KEEP_LAB:-0}" = 1 ] || ./build/haverify lab down; }
trap teardown EXIT
# shellcheck disable=SC2086  # the lab's arguments, split on spaces
./build/haverify lab up ${HAVERIFY_QUICKSTART_LAB:---stack pgpool-wd}
rc=0
./build/haverify run scenarios/single-fault "$@" || rc=$?
echo "haverify: exit code $rc (0 all verdicts pass, 1 a verdict failed, 2 usage/config error, 3 harness error)"
exit "$rc"
