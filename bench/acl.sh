#!/bin/bash
# bench/acl.sh: the file-system part of sid-reset on a large tree.
#
# Builds (once) a fixture image whose C: holds ~30,000 small files under
# ProgramData\bulk (fixtures/images/bench-acl.spec), then, in one libguestfs
# appliance and on a qcow2 overlay, times winseal-fshelper's three modes
# over the same mounted volumes:
#   walk     a plain directory walk (lstat of every entry): the floor
#   count    the walk + every security descriptor read and checked
#   rewrite  the same + every descriptor naming the old domain rewritten
# Each run gets freshly mounted volumes and dropped caches; runs alternate;
# the medians are printed with files per second and the ratio to the walk
# (target: at most 2).  Then one `winseal generalize --operations
# sid-reset` shows the whole pass as winseal runs it (mounts included).
#
# usage: bench/acl.sh [WORKDIR] [RUNS]     (default /var/tmp/winseal-bench, 3)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
helper=${WINSEAL_FSHELPER:-$(dirname "$winseal")/winseal-fshelper}
work=${1:-/var/tmp/winseal-bench}
runs=${2:-3}
[ -x "$winseal" ] && [ -x "$helper" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
mkdir -p "$work"

img="$work/bench-acl.img"
if [ ! -f "$img" ]; then
  echo "building $img (a few minutes: 30,000 files through ntfs-3g under TCG)" >&2
  ( cd "$here" && builddir=$here fixtures/build-fixtures.sh "$work/fixtures" bench-acl )
  mv "$work/fixtures/bench-acl.img" "$img"
fi
old=$(sed -n 's/^MACHINE_SID=//p' "$here/fixtures/images/ws2022.spec")
new=S-1-5-21-1111111111-2222222222-33333333
ov="$work/bench-acl.qcow2"
rm -f "$ov"
qemu-img create -q -f qcow2 -b "$img" -F raw "$ov"

# One appliance: per run, mount both NTFS volumes below the scratch root,
# drop the caches, run one mode, unmount.
gf="$work/acl.guestfish"
{
  echo "add $ov format:qcow2"
  echo run
  for r in $(seq 1 "$runs"); do
    # Alternate the order; rewrite moves old->new on odd runs, back on even.
    if [ $((r % 2)) -eq 1 ]; then order="walk count rewrite"; a=$old b=$new
    else order="rewrite count walk"; a=$new b=$old; fi
    for m in $order; do
      echo "mkmountpoint /v0"
      echo "mkmountpoint /v1"
      echo "mount /dev/sda2 /v0"
      echo "mount /dev/sda1 /v1"
      echo "upload $helper /fsh"
      echo "chmod 0755 /fsh"
      echo "drop-caches 3"
      echo "command \"/fsh $m $a $b 0 /v0 /v1\""
      echo "rm /fsh"
      echo "umount /v1"
      echo "umount /v0"
      echo "rmmountpoint /v1"
      echo "rmmountpoint /v0"
    done
  done
} > "$gf"
# The totals lines, in run order; a rewrite run's source domain alternates.
guestfish -f "$gf" | grep '^T ' > "$work/acl.totals"

median () { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
field () { sed -n "s/.* $1=\\([0-9]*\\).*/\\1/p"; }
# Lines come in groups of three per run, in that run's order.
declare -A ms files
i=0
for r in $(seq 1 "$runs"); do
  if [ $((r % 2)) -eq 1 ]; then order="walk count rewrite"; else order="rewrite count walk"; fi
  for m in $order; do
    i=$((i + 1))
    line=$(sed -n "${i}p" "$work/acl.totals")
    ms[$m]+="$(echo " $line" | field ms) "
    files[$m]=$(echo " $line" | field scanned)
    [ "$m" = rewrite ] && rewritten=$(echo " $line" | field rewritten)
  done
done
wm=$(printf '%s\n' ${ms[walk]} | median)
printf 'winseal-fshelper on %s files and folders (2 NTFS volumes), median of %d, TCG appliance, %d cores\n' \
  "${files[walk]}" "$runs" "$(nproc)"
for m in walk count rewrite; do
  t=$(printf '%s\n' ${ms[$m]} | median)
  printf '%-8s %7.2f s  %8.0f files/s  ratio to walk %5.2f%s\n' "$m" "$(awk -v t="$t" 'BEGIN { print t / 1000 }')" \
    "$(awk -v n="${files[$m]}" -v t="$t" 'BEGIN { print t ? n * 1000 / t : 0 }')" \
    "$(awk -v t="$t" -v w="$wm" 'BEGIN { print w ? t / w : 0 }')" \
    "$([ "$m" = rewrite ] && echo "  ($rewritten descriptors rewritten)")"
done

# The whole pass as winseal runs it (after the hive work), mounts included.
"$winseal" generalize --operations sid-reset --json --no-progress --format qcow2 \
  "$img" -o "$work/acl-out.qcow2" > "$work/acl.json"
jq -r '.operations["sid-reset"].file_system
       | "winseal generalize --operations sid-reset: file-system pass \(.seconds | . * 100 | round / 100) s (walk \(.walk_seconds) s), \(.files_scanned) scanned, \(.descriptors_rewritten) rewritten, \(.folders_renamed) renamed, \(.folders_removed) removed"' \
  "$work/acl.json"
rm -f "$work/acl-out.qcow2" "$ov"
