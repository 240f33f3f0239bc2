#!/bin/bash
# The lab's host-side power controller (a PDU for fence agents). Runs in the
# root namespace while a Pacemaker lab is up; fence_hvlab inside the nodes
# drops one-line requests "VERB NODE" into $STATE/power/requests/ and waits
# for the exit status in $STATE/power/replies/<same name>.
# Usage: power-controller.sh LAB_SCRIPT STATE_DIR
set -u
script=${1:?} state=${2:?}
req="$state/power/requests" rep="$state/power/replies"
log="$state/power/controller.log"
# A private FIFO held open read-write: `read -t` on it is a sleep without a fork.
tick="$state/power/.tick"
mkfifo "$tick" 2>/dev/null || true
exec 3<>"$tick"
while [[ -d $req ]]; do
    shopt -s nullglob
    for f in "$req"/*; do
        name=${f##*/}
        read -r verb node <"$f" || verb=
        rm -f "$f"
        case $verb in
            off) "$script" power-off "$node" >>"$log" 2>&1 ;;
            on) "$script" power-on "$node" >>"$log" 2>&1 ;;
            status) "$script" power-status "$node" >>"$log" 2>&1 ;;
            *) false ;;
        esac
        rc=$?
        printf '%s %s %s -> %s\n' "$(date '+%F %T.%3N')" "$verb" "$node" "$rc" >>"$log"
        echo "$rc" >"$rep/.$name" && mv "$rep/.$name" "$rep/$name"
    done
    read -r -t 0.02 -u 3 _ || true
done
