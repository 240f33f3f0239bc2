#!/usr/bin/env bash
# After `haverify lab down`: nothing of the lab may remain on the machine.
set -u
state="${HAVERIFY_LAB_STATE:-/var/lib/haverify-lab}"
bad=0
check() {  # check "what" "output that must be empty"
  if [ -n "$2" ]; then
    echo "left behind ($1):"
    echo "$2"
    bad=1
  fi
}
check "network namespaces" "$(ip netns list | grep hvl- || true)"
check "links" "$(ip -br link | grep hvl- || true)"
check "routes" "$(ip route show table all | grep -E '198\.1[89]\.' || true)"
check "mounts" "$(grep -E "haverify-lab|$state" /proc/mounts || true)"
# The lab disk (lab/disk/): no FUSE mount of it in any mount namespace left,
# no daemon (its backing store is under $state, checked below).
check "lab disk mounts" "$(cat /proc/[0-9]*/mounts 2>/dev/null | grep -E 'haverify-lab-disk|fuse\.haverify' | sort -u || true)"
# shellcheck disable=SC2009  # every process with its arguments; grep -v drops this check itself
check "lab disk daemons" "$(ps -eo pid,args | grep -E '^ *[0-9]+ [^ ]*haverify-lab-disk( |$)' | grep -v -E 'grep|check-clean' || true)"
check "loop devices" "$(losetup -a 2>/dev/null | grep -E "haverify|$state" || true)"
# A node init is a process whose program is haverify-lab-init (a compiler
# run naming it in a -D flag, as on a shared build machine, is not).
# shellcheck disable=SC2009  # every process with its arguments; grep -v drops this check itself
check "processes" "$(ps -eo pid,args | grep -E "$state|hvl-|^ *[0-9]+ [^ ]*haverify-lab-init( |$)" | grep -v -E 'grep|check-clean' || true)"
# pgpool renames its processes ("pgpool: wait for connection request"), so
# the lab marks each one it starts with HVL_STATE=<state> in its environment.
leaked_pgpool() {
  local p
  for p in $(pgrep -x pgpool || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "HVL_STATE=$state"; then
      ps -o pid=,args= -p "$p"
    fi
  done
}
check "pgpool processes" "$(leaked_pgpool)"
check "host files" "$(ls -A "$state" 2>/dev/null || true)"
[ -e "$state" ] && check "state dir" "$state still exists"
if [ "$bad" = 0 ]; then echo "lab down left nothing behind"; fi
exit "$bad"
