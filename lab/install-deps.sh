#!/usr/bin/env bash
# Installs everything haverify and its embedded lab need on Debian 12 (as root).
# Safe to run again: apt skips what is installed.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (the lab creates network namespaces)" >&2
  exit 2
fi
packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format shellcheck
  # the readers' fuzzers (tests/fuzz, bench/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # libraries
  libpq-dev libssh-dev libc-ares-dev libboost-dev libboost-filesystem-dev catch2 libfccp-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  # the lab: real PostgreSQL 15, pgpool-II, sshd, networking tools
  postgresql-15 postgresql-client-15 pgpool2 openssh-server openssh-client
  nftables iproute2 util-linux procps psmisc
  # a packet-filter cut falls back to iptables on a node without nft (the field lab test plants one)
  iptables
  # lab up --ssh-user: the QA user's way to root on the nodes, as on real servers
  sudo
  # lab up --power ipmi: a simulated BMC per node (ipmi_sim) and the ipmitool haverify drives it with
  openipmi ipmitool
  # the lab disk (lab/disk, haverify-lab-disk): a FUSE file system that loses unsynced writes on power-off
  libfuse3-dev fuse3
  # the lab test that no lab packet leaves the machine captures with tcpdump
  tcpdump
  # the Pacemaker stacks (pgrex, shared-disk): Corosync 3, Pacemaker 2.1,
  # the OCF agents (pgsql, IPaddr2, Filesystem; Filesystem needs kmod)
  pacemaker pacemaker-cli-utils corosync resource-agents kmod
  # ocf:pacemaker:ping (the service-LAN check) runs ping(8); pgpool-wd's watchdog
  # pings trusted_servers and its delegate IP, and announces the IP with
  # iputils' arping (/usr/bin/arping -U -I svc0; not package arping)
  iputils-ping iputils-arping
  # pgpool-wd --endpoint dns: the DNS server of node dns (dnsmasq, the binary
  # only: no system service) and dig, which the lab's checks resolve with
  dnsmasq-base bind9-dnsutils
  # the reports' tests: summary.json against its JSON Schema, junit.xml against its XSD,
  # report.html loaded by headless Chromium (DOM and screenshot)
  python3-jsonschema libxml2-utils chromium
  # the Patroni stack: Patroni 3 (etcd v2 API client) and etcd 3.4
  patroni python3-etcd python3-psycopg2 etcd-server etcd-client
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as pacemaker, corosync, etcd-server and postgresql would
  # start their services on this host when installed; the lab runs them only
  # inside its nodes. Deny service starts for the install (policy-rc.d exit
  # 101), unless this machine already has a policy of its own.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# haverify install-deps: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  rc=0
  apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" -eq 0 ] || exit "$rc"
fi
