#!/usr/bin/env bash
# Runs shellcheck over every shell script of the lab (lab/, bench/*.sh,
# tests/**/*.sh) and fails on any finding. Called by tests/run.sh.
# Libraries (lab/lib/*.sh, lab/stacks/*/*.sh) are checked on their own, like
# the scripts; exclusions are made, with their reason, where they apply.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "check-shell: shellcheck is not installed (bash lab/install-deps.sh)" >&2; exit 2; }

files=(lab/haverify-lab lab/stacks/pacemaker/fence_hvlab)
while IFS= read -r -d '' f; do files+=("$f"); done < <(find lab bench tests -name '*.sh' ! -path tests/run.sh ! -path bench/failover.sh -print0 | sort -z)

rc=0
shellcheck -x -P SCRIPTDIR "${files[@]}" || rc=1
# tests/run.sh: its clang-format line pipes find into xargs (SC2038); the file
# names are this repository's own (no spaces or newlines).
shellcheck -x -e SC2038 tests/run.sh || rc=1
# bench/failover.sh: its loop counter is unused on purpose (`for i in $(seq "$n")`
# repeats n times); SC2034 only, and only there.
shellcheck -x -e SC2034 bench/failover.sh || rc=1
if ((rc == 0)); then echo "check-shell: $((${#files[@]} + 2)) scripts, no findings"; fi
exit "$rc"
