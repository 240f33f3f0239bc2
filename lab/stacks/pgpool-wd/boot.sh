# shellcheck shell=bash
# Boot steps of a pgpool-wd lab node (sourced by node-boot.sh): a database
# node (PostgreSQL + pgpool), or, with --endpoint dns, node dns (dnsmasq).
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh

stack_boot_mounts() {
    # The node's own pgpool config directory (pgpool.conf, the same on every
    # node, and pgpool_node_id, its own), where pgpool looks on a server.
    if [[ $NODE_KIND == db ]]; then mount --bind "$ndir/pool" /etc/pgpool2; fi
}

# dnsmasq on node dns: authoritative for lab.test (an unknown name there is
# NXDOMAIN, nothing is forwarded), the records from the files of DNS_HOSTS
# (re-read on change: the leader's escalation rewrites one), answers with a
# TTL of DNS_TTL seconds, every query logged.
dns_start() {
    # shellcheck source=/dev/null  # written by stack_prepare: DNS_ADDR, DNS_HOSTS, DNS_TTL
    . "$ndir/dns.env"
    /usr/sbin/dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll --bind-interfaces \
        --listen-address="$DNS_ADDR" --port=53 --local=/lab.test/ --hostsdir="$DNS_HOSTS" \
        --local-ttl="$DNS_TTL" --neg-ttl=1 --user=root --group=root --pid-file=/run/dnsmasq.pid \
        --log-queries --log-facility=/var/log/postgresql/dnsmasq.log ||
        echo "boot: dnsmasq did not start on $node"
}

stack_boot_services() {
    if [[ $NODE_KIND == dns ]]; then
        dns_start
        return
    fi
    # A power-on restarts pgpool (PostgreSQL stays down for the rejoin); it
    # joins the watchdog cluster as a standby. (`haverify-lab up` starts the
    # first pgpools itself, once their config exists.)
    if [[ -f /etc/pgpool2/pgpool.conf ]]; then
        /bin/bash "$lab_dir/stacks/pgpool-wd/pgpool.sh" start || echo "boot: pgpool did not start on $node"
    fi
}
