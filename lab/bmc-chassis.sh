#!/bin/sh
# haverify lab: the chassis control of a simulated BMC (lab/lib/bmc.sh).
# ipmi_sim runs it, synchronously, as
#   bmc-chassis.sh SCRIPT STATE NODE get power      -> prints power:1 (on) or power:0 (off)
#   bmc-chassis.sh SCRIPT STATE NODE set power 0|1  -> powers NODE off or on
# (and set reset|shutdown|boot|identify, accepted and ignored). A non-zero
# exit makes the BMC answer an error. It must answer within about a second
# (ipmitool retransmits, and each retransmission runs it again): a power-on
# (boot, ~1 s and more) is started in the background, its state read back by
# `get power`; a power-off (~25 ms) runs here. The BMC host is a network
# namespace of its own; the lab's power verbs work in the host's, so they
# run there (nsenter into the host's namespace, bound at $STATE/bmc/host.net).
script=$1 state=$2 node=$3 op=$4
shift 4
log=$state/bmc/$node/chassis.log
host_net=$state/bmc/host.net # the host's network namespace, bound there by lab up
lab() { HAVERIFY_LAB_STATE=$state nsenter --net="$host_net" -- "$script" "$@"; }
echo "$(date +%s.%N) $op $*" >>"$log"
case $op in
    get)
        for p in "$@"; do
            case $p in
                power)
                    lab power-status "$node" >/dev/null 2>&1
                    case $? in 0) echo power:1 ;; 3) echo power:0 ;; *) exit 1 ;; esac ;;
                *) echo "unsupported: get $p" >>"$log"; exit 1 ;;
            esac
        done ;;
    set)
        while [ $# -ge 2 ]; do
            p=$1 v=$2
            shift 2
            case $p in
                power)
                    if [ "$v" = 0 ]; then
                        lab power-off "$node" >>"$log" 2>&1 || exit 1
                    else
                        HAVERIFY_LAB_STATE=$state setsid nsenter --net="$host_net" -- "$script" power-on "$node" \
                            </dev/null >>"$log" 2>&1 &
                    fi ;;
                reset | shutdown | boot | identify) : ;;
                *) echo "unsupported: set $p" >>"$log"; exit 1 ;;
            esac
        done ;;
    *) echo "unsupported: $op" >>"$log"; exit 1 ;;
esac
exit 0
