#!/bin/bash
# bench/generalize.sh: the end-to-end time of `winseal generalize` (one
# appliance launch, then formats/ writes a fixed VHD) next to its peer
# pipeline — virt-sysprep on a qcow2 overlay of the same image, then
# qemu-img convert to a fixed VHD — measured in one run, alternating the
# order.  virt-sysprep does far less to a Windows guest (it has no SID,
# profile, answer-file or reseal operations for Windows); the comparison
# is of the whole "image in, distributable VHD out" step.
#
# usage: bench/generalize.sh [IMAGE] [RUNS]   (default: tests/images/ws2022.img, 3)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
img=${1:-$here/tests/images/ws2022.img}
runs=${2:-3}
[ -x "$winseal" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
[ -f "$img" ] || { echo "no image $img (make check builds the fixtures)" >&2; exit 1; }
for t in virt-sysprep qemu-img; do
  command -v $t >/dev/null || { echo "$t is needed" >&2; exit 1; }
done
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/winseal-bench-gen.XXXXXX")
trap 'rm -rf "$work"' EXIT
abs=$(readlink -f "$img")

now () { date +%s.%N; }
median () { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

peer () {
  rm -f "$work/ov.qcow2" "$work/peer.vhd"
  local t0; t0=$(now)
  qemu-img create -q -f qcow2 -b "$abs" -F raw "$work/ov.qcow2"
  virt-sysprep -q -a "$work/ov.qcow2" >/dev/null 2>&1
  qemu-img convert -O vpc -o subformat=fixed,force_size "$work/ov.qcow2" "$work/peer.vhd"
  sync -f "$work/peer.vhd"
  awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}
ours () {
  rm -f "$work/ours.vhd"
  local t0; t0=$(now)
  "$winseal" generalize --no-progress "$abs" -o "$work/ours.vhd" >/dev/null
  awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}

: > "$work/p"; : > "$work/o"
for i in $(seq "$runs"); do
  if [ $((i % 2)) = 1 ]; then peer >> "$work/p"; ours >> "$work/o"
  else ours >> "$work/o"; peer >> "$work/p"; fi
done
p=$(median < "$work/p"); o=$(median < "$work/o")
printf '%-44s %8.2fs\n' "virt-sysprep + qemu-img convert (+ sync)" "$p"
printf '%-44s %8.2fs\n' "winseal generalize (-o fixed VHD)" "$o"
printf '%-44s %8.2f\n' "ratio peer/winseal" "$(awk -v a="$p" -v b="$o" 'BEGIN { print a / b }')"
printf 'image %s, %d runs, median; sizes: peer %s, winseal %s bytes\n' "$img" "$runs" \
  "$(stat -c %s "$work/peer.vhd")" "$(stat -c %s "$work/ours.vhd")"
