#!/bin/bash
# bench/generalize.sh: two cases, in one run.
#
# (1) The end-to-end time of `winseal generalize` (one appliance launch,
# then formats/ writes a fixed VHD) next to its peer pipeline —
# virt-sysprep on a qcow2 overlay of the same image, then qemu-img convert
# to a fixed VHD — alternating the order.  virt-sysprep does far less to a
# Windows guest (it has no SID, profile, answer-file or reseal operations
# for Windows); the comparison is of the whole "image in, distributable
# VHD out" step.  In the same loop, winseal again without the operations
# that Sysprep parity added (machine-ids, network-state, secrets,
# cleanup-files, cloud-agents, sysprep-providers): the time they add per
# image.
#
# (2) Free space: a 4 GiB Windows disk (fixtures/images/bench-free.spec)
# whose C: holds 128 MiB of live data and 2.75 GiB of deleted data (written
# with ntfscp, removed through the appliance).  Output size (apparent and
# allocated) and time, side by side: `winseal generalize` (the free
# clusters not copied), `winseal convert --discard-free-space` (the copy
# alone), `virt-sparsify` then `qemu-img convert` to a fixed VHD, and plain
# `qemu-img convert` to a fixed VHD; every output is synced.  Prints the
# ratios of winseal's size to virt-sparsify's and of its times to qemu-img
# convert's.  The image is built once into WORKDIR.
#
# usage: bench/generalize.sh [IMAGE] [RUNS]   (default: tests/images/ws2022.img, 3)
#        BENCH_CASES=free bench/generalize.sh   (only case 2; =sysprep only case 1)
#        BENCH_WORK=DIR                         (case 2's image; default /var/tmp/winseal-bench)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
img=${1:-$here/tests/images/ws2022.img}
runs=${2:-3}
[ -x "$winseal" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
[ -f "$img" ] || { echo "no image $img (make check builds the fixtures)" >&2; exit 1; }
cases=${BENCH_CASES:-sysprep free}
for t in virt-sysprep virt-sparsify qemu-img ntfscp guestfish; do
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
  "$winseal" generalize --no-progress "$@" "$abs" -o "$work/ours.vhd" >/dev/null
  awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}
PARITY_OPS="machine-ids network-state secrets cleanup-files cloud-agents sysprep-providers"
without_parity () {
  local args=() op
  for op in $PARITY_OPS; do args+=(--disable "$op"); done
  ours "${args[@]}"
}

if [[ " $cases " == *" sysprep "* ]]; then
: > "$work/p"; : > "$work/o"; : > "$work/b"
for i in $(seq "$runs"); do
  if [ $((i % 2)) = 1 ]; then peer >> "$work/p"; ours >> "$work/o"; without_parity >> "$work/b"
  else without_parity >> "$work/b"; ours >> "$work/o"; peer >> "$work/p"; fi
done
p=$(median < "$work/p"); o=$(median < "$work/o"); b=$(median < "$work/b")
printf '%-44s %8.2fs\n' "virt-sysprep + qemu-img convert (+ sync)" "$p"
printf '%-44s %8.2fs\n' "winseal generalize (-o fixed VHD)" "$o"
printf '%-44s %8.2f\n' "ratio peer/winseal" "$(awk -v a="$p" -v b="$o" 'BEGIN { print a / b }')"
printf '%-44s %8.2fs\n' "winseal without the Sysprep-parity operations" "$b"
printf '%-44s %8.2fs (ratio %.3f)\n' "time they add per image" \
  "$(awk -v a="$o" -v b="$b" 'BEGIN { print a - b }')" "$(awk -v a="$o" -v b="$b" 'BEGIN { print a / b }')"
printf 'image %s, %d runs, median; sizes: peer %s, winseal %s bytes\n' "$img" "$runs" \
  "$(stat -c %s "$work/peer.vhd")" "$(stat -c %s "$work/ours.vhd")"
fi

# (2) Free space.
[[ " $cases " == *" free "* ]] || exit 0
bw=${BENCH_WORK:-/var/tmp/winseal-bench}
fimg=$bw/bench-free.img
mkdir -p "$bw"
if [ ! -f "$fimg" ]; then
  echo "building $fimg (a few minutes)" >&2
  ( cd "$here" && builddir=$here fixtures/build-fixtures.sh "$bw/fixtures" bench-free ) >&2
  img2=$bw/fixtures/bench-free.img
  read -r cs cz < <(sfdisk -J "$img2" | jq -r '.partitiontable.partitions[1] | "\(.start) \(.size)"')
  dd if="$img2" of="$bw/c.vol" bs=1M iflag=skip_bytes,count_bytes skip=$((cs * 512)) count=$((cz * 512)) conv=sparse status=none
  head -c 128M /dev/urandom > "$bw/live.bin"
  perl -e '$b = "DELETED-DATA." x 80660; for (1 .. 2816) { print substr ($b, 0, 1048576) }' > "$bw/gone.bin"
  ntfscp -q "$bw/c.vol" "$bw/live.bin" live.bin
  ntfscp -q "$bw/c.vol" "$bw/gone.bin" gone.bin
  dd if="$bw/c.vol" of="$img2" bs=1M oflag=seek_bytes seek=$((cs * 512)) conv=notrunc,sparse status=none
  rm -f "$bw/c.vol" "$bw/live.bin" "$bw/gone.bin"
  guestfish --format=raw -a "$img2" run : mount /dev/sda2 / : rm /gone.bin
  mv "$img2" "$fimg"
fi
secs () { awk -v a="$2" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
sizes () { printf '%s %s' "$(stat -c %s "$1")" "$(du -B1 "$1" | cut -f1)"; }
fimg_abs=$(readlink -f "$fimg")
rm -f "$work"/*.vhd "$work"/*.raw "$work"/*.qcow2
t0=$(now); "$winseal" generalize --no-progress "$fimg_abs" -o "$work/ws-gen.vhd" > /dev/null; t1=$(now)
"$winseal" convert --no-progress --discard-free-space "$fimg_abs" "$work/ws-conv.vhd" > /dev/null; t2=$(now)
virt-sparsify -q "$fimg_abs" --convert raw "$work/sp.raw" > /dev/null 2>&1
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size "$work/sp.raw" "$work/sp.vhd"
sync -f "$work/sp.vhd"; t3=$(now)
rm -f "$work/sp.raw"
t4=$(now); qemu-img convert -f raw -O vpc -o subformat=fixed,force_size "$fimg_abs" "$work/q.vhd"
sync -f "$work/q.vhd"; t5=$(now)
gen=$(secs "$t0" "$t1") conv=$(secs "$t1" "$t2") sp=$(secs "$t2" "$t3") q=$(secs "$t4" "$t5")
printf '\nfree space: %s (4 GiB disk, 2.75 GiB deleted, 128 MiB live)\n' "$fimg"
printf '%-46s %9s %14s %14s\n' "" "time (s)" "file bytes" "allocated"
printf '%-46s %9s %14s %14s\n' "winseal generalize (fixed VHD)" "$gen" $(sizes "$work/ws-gen.vhd")
printf '%-46s %9s %14s %14s\n' "winseal convert --discard-free-space" "$conv" $(sizes "$work/ws-conv.vhd")
printf '%-46s %9s %14s %14s\n' "virt-sparsify + qemu-img convert (+ sync)" "$sp" $(sizes "$work/sp.vhd")
printf '%-46s %9s %14s %14s\n' "qemu-img convert (+ sync)" "$q" $(sizes "$work/q.vhd")
for f in ws-gen ws-conv sp q; do
  printf '%-46s %s\n' "deleted data in $f.vhd (13-byte patterns)" "$(LC_ALL=C grep -aoF 'DELETED-DATA.' "$work/$f.vhd" | wc -l)"
done
awk -v g="$(du -B1 "$work/ws-gen.vhd" | cut -f1)" -v s="$(du -B1 "$work/sp.vhd" | cut -f1)" \
    -v tg="$gen" -v tc="$conv" -v tq="$q" 'BEGIN {
  printf "ratio allocated winseal generalize / virt-sparsify: %.3f (goal: at most 1)\n", g / s
  printf "ratio time winseal convert / qemu-img convert:     %.3f (goal: below 1)\n", tc / tq
  printf "ratio time winseal generalize / qemu-img convert:  %.3f\n", tg / tq }'
