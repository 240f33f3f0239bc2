#!/usr/bin/env bash
# pg_test_fsync on the lab disk (lab/disk, haverify-lab-disk) for each profile,
# then on the backing store's own file system (docs/benchmarks.md, "Lab disk
# profiles (issue 15)"). Root, /dev/fuse and PostgreSQL 15 needed.
# Usage: bench/lab-disk-fsync.sh [SECONDS_PER_TEST] [PROFILE...]   (default 2; ram ssd hdd san)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
shift || true
profiles=("$@")
((${#profiles[@]})) || profiles=(ram ssd hdd san)
disk=build/lab/haverify-lab-disk
[[ -x $disk ]] || { echo "lab-disk-fsync: build $disk first (cmake --build build --target haverify-lab-disk)" >&2; exit 2; }
pg_test_fsync=/usr/lib/postgresql/15/bin/pg_test_fsync
work=$(mktemp -d /var/tmp/lab-disk-fsync-XXXXXX)
cleanup() {
    fusermount3 -u -z "$work/mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for p in "${profiles[@]}"; do
    mkdir -p "$work/backing" "$work/mnt"
    "$disk" --daemon --pid-file "$work/pid" --log "$work/disk.log" --profile "$p" "$work/backing" "$work/mnt"
    echo "=== profile $p: $pg_test_fsync -s $secs -f MOUNT/pg_test_fsync.out"
    timeout 600 "$pg_test_fsync" -s "$secs" -f "$work/mnt/pg_test_fsync.out"
    pid=$(<"$work/pid")
    fusermount3 -u "$work/mnt"
    # The daemon writes back after the unmount: wait (10 s at most) for it to exit.
    for _ in $(seq 100); do
        [[ -e /proc/$pid ]] || break
        sleep 0.1
    done
    tail -n 1 "$work/disk.log"
    rm -rf "$work/backing" "$work/disk.log"
done
echo "=== the backing store's own file system ($(df --output=fstype "$work" | tail -n 1)): $pg_test_fsync -s $secs"
timeout 600 "$pg_test_fsync" -s "$secs" -f "$work/pg_test_fsync.out"
