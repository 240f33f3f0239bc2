#!/bin/bash
# The escalation of stack pgpool-wd with --endpoint dns: run by pgpool
# (system(), inside the node) when its watchdog becomes the leader (`set`) or
# stops being it (`clear`). It changes the record of the clients' name on the
# DNS server over SSH on the management LAN, as a cloud setup calls its DNS
# service's API:
#   set     db.lab.test -> this node's service address (the file dnsmasq reads,
#           replaced whole: a rename, so dnsmasq never reads half a file)
#   clear   removes the record if it still names this node (a leader that lost
#           the quorum must not keep the clients; a newer leader's record stays)
# Settings: /etc/pgpool2/dns.env (written by haverify-lab up). Every call is
# logged to /var/log/postgresql/pgpool-dns.log; exit 0 when the record is as
# asked, 1 if the DNS server could not be changed (pgpool logs it).
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cmd=${1:-}
log=/var/log/postgresql/pgpool-dns.log
# shellcheck source=/dev/null  # DNS_MGMT, DNS_NAME, DNS_HOSTS, OWN_ADDR, SSH_KEY, KNOWN_HOSTS
. /etc/pgpool2/dns.env

say() { echo "$(date '+%F %T.%3N') $(uname -n) $*" >>"$log"; }

case $cmd in
    set)
        # shellcheck disable=SC2016  # expanded on the DNS server
        remote='printf "%s %s\n" "$1" "$2" >"$3/.endpoint.tmp" && mv -f "$3/.endpoint.tmp" "$3/endpoint"'
        ;;
    clear)
        # shellcheck disable=SC2016
        remote='if grep -qs "^$1 " "$3/endpoint"; then rm -f "$3/endpoint"; fi'
        ;;
    *)
        echo "usage: dns-record.sh set | clear" >&2
        exit 2
        ;;
esac
start=$(date +%s%N)
if out=$(timeout 10 ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o ConnectTimeout=3 "root@$DNS_MGMT" /bin/sh -c "'$remote'" dns-record \
    "$OWN_ADDR" "$DNS_NAME" "$DNS_HOSTS" 2>&1 </dev/null); then
    say "$cmd $DNS_NAME $OWN_ADDR: done in $((($(date +%s%N) - start) / 1000000)) ms"
    exit 0
fi
say "$cmd $DNS_NAME $OWN_ADDR: FAILED after $((($(date +%s%N) - start) / 1000000)) ms: $out"
exit 1
