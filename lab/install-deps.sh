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
  build-essential cmake ninja-build pkg-config clang-format
  # libraries
  libpq-dev libssh-dev libboost-dev libboost-filesystem-dev catch2 libfccp-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  # the lab: real PostgreSQL 15, pgpool-II, sshd, networking tools
  postgresql-15 postgresql-client-15 pgpool2 openssh-server openssh-client
  nftables iproute2 util-linux procps psmisc
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
