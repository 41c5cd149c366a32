#!/bin/bash
# bench/convert.sh: time winseal convert against qemu-img convert, side by
# side in one run, on a 4 GiB sparse disk holding ~1 GiB of random data and
# on a 1 GiB highly compressible disk, and from and to VHDX (the same 4
# GiB disk as a dynamic VHDX made by qemu-img, read into a fixed VHD; the
# raw disk written as a VHDX).  Prints one line per case: both
# median times, the ratio qemu-img/winseal, both output sizes, and
# winseal's peak memory.  winseal fsyncs its output before renaming it into
# place; qemu-img does not, so its time is also given with an fsync of its
# output (the same durability), and the ratio against that.
#
# usage: bench/convert.sh [WORKDIR] [RUNS]   (default /var/tmp/winseal-bench, 3)
#        BENCH_CASES='VMDK' bench/convert.sh    (only the matching cases)
#        BENCH_VERBOSE=1 bench/convert.sh       (also every run's times)
#        BENCH_SETTLE=2 bench/convert.sh        (pause 2 s before each timed run)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
work=${1:-/var/tmp/winseal-bench}
runs=${2:-3}
[ -x "$winseal" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "qemu-img is needed (apt-get install qemu-utils)" >&2; exit 1; }
mkdir -p "$work"

random="$work/random.raw"
if [ ! -f "$random" ]; then
  truncate -s 4G "$random.tmp"
  # ~1 GiB of random data in 64 MiB runs spread over the disk.
  for i in $(seq 0 15); do
    head -c 64M /dev/urandom | dd of="$random.tmp" bs=1M seek=$((i * 256)) conv=notrunc status=none
  done
  mv "$random.tmp" "$random"
fi
text="$work/compressible.raw"
if [ ! -f "$text" ]; then
  ( set +o pipefail; yes "winseal benchmark: a highly compressible line of text 0123456789" | head -c 1G ) > "$text.tmp"
  mv "$text.tmp" "$text"
fi
cores=$(nproc)

median () { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now () { date +%s.%N; }

# Before each timed run: write everything back.  BENCH_SETTLE=N also waits
# N seconds (default 0).  On this machine's virtual machine qemu-img's
# buffered writes are slow after such a pause (1-3 s instead of 0.3-0.5 s
# for 1 GiB) while winseal's direct writes are not, so the default is no
# pause; the times of both settings are in the notes of issue 4.
settle () {
  sync
  sleep "${BENCH_SETTLE:-0}"
}
run_qemu () {
  settle
  t0=$(now); qemu-img convert -f "$qin" "${qargs[@]}" "$in" "$qo"; t1=$(now)
  sync -f "$qo"                        # winseal fsyncs its output; qemu-img does not
  qt+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')")
  qst+=("$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')")
}
run_winseal () {
  settle
  t0=$(now); "$winseal" convert --no-progress --json "${wargs[@]}" "$in" "$wo" > "$work/w.json"
  wt+=("$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')")
  rss=$(sed -n 's/.*"max_rss_kib": *\([0-9]*\).*/\1/p' "$work/w.json")
}

run () {   # run NAME INPUT QEMU-ARGS -- WINSEAL-ARGS  (QIN: the input's qemu format)
  local name=$1; in=$2; shift 2
  qin=${QIN:-raw}
  # BENCH_CASES=PATTERN runs only the cases whose name matches (grep -E).
  if [ -n "${BENCH_CASES:-}" ] && ! echo "$name" | grep -Eq "$BENCH_CASES"; then return 0; fi
  qargs=() wargs=()
  while [ "$1" != -- ]; do qargs+=("$1"); shift; done
  shift
  wargs=("$@")
  qo="$work/q.out" wo="$work/w.out" qt=() qst=() wt=() rss=0
  for r in $(seq 1 "$runs"); do
    rm -f "$qo" "$wo"
    # Alternate which tool goes first: on a virtual machine the first writer
    # after a delete can pay for fresh memory pages that the second reuses.
    if [ $((r % 2)) -eq 1 ]; then run_qemu; run_winseal; else run_winseal; run_qemu; fi
  done
  # BENCH_VERBOSE=1: every run's times on stderr.
  [ -z "${BENCH_VERBOSE:-}" ] || echo "  $name: qemu-img ${qt[*]} | +fsync ${qst[*]} | winseal ${wt[*]}" >&2
  local qm qsm wm
  qm=$(printf '%s\n' "${qt[@]}" | median)
  qsm=$(printf '%s\n' "${qst[@]}" | median)
  wm=$(printf '%s\n' "${wt[@]}" | median)
  printf '%-36s qemu-img %6.2fs (+fsync %6.2fs)  winseal %6.2fs  ratio %5.2f (with fsync %5.2f)  size qemu-img %11d winseal %11d  (on disk %d/%d KiB)  winseal RSS %d MiB\n' \
    "$name" "$qm" "$qsm" "$wm" "$(awk -v a="$qm" -v b="$wm" 'BEGIN { print a / b }')" \
    "$(awk -v a="$qsm" -v b="$wm" 'BEGIN { print a / b }')" \
    "$(stat -c %s "$qo")" "$(stat -c %s "$wo")" \
    "$(du -k "$qo" | cut -f1)" "$(du -k "$wo" | cut -f1)" $((rss / 1024))
  rm -f "$qo" "$wo"
}

echo "winseal $("$winseal" --version | cut -d' ' -f2) vs $(qemu-img --version | head -n1), $cores cores, median of $runs"
cat "$random" "$text" > /dev/null    # warm the page cache for both
# The floor for any tool that makes its output durable: how long this disk
# takes to take 1 GiB written straight to it.
floor=()
for r in $(seq 1 "$runs"); do
  rm -f "$work/floor.out"; sync
  t0=$(now)
  dd if=/dev/zero of="$work/floor.out" bs=4M count=256 oflag=direct conv=fsync status=none
  floor+=("$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')")
done
rm -f "$work/floor.out"
printf 'disk floor: 1 GiB written with direct I/O and fsynced (dd) in %.2fs (median)\n' \
  "$(printf '%s\n' "${floor[@]}" | median)"
for data in random text; do
  in=$random
  [ $data = text ] && in=$text
  run "raw->fixed VHD ($data)"          "$in" -O vpc -o subformat=fixed -- --format vhd
  run "raw->dynamic VHD ($data)"        "$in" -O vpc -- --format vhd-dynamic
  run "raw->streamOptimized VMDK ($data)" "$in" -O vmdk -o subformat=streamOptimized -- --format vmdk
  run "raw->qcow2 ($data)"              "$in" -O qcow2 -- --format qcow2
  run "raw->compressed qcow2 ($data)"   "$in" -c -O qcow2 -- --format qcow2 -c
done
vhdx="$work/random.vhdx"
if [ -n "${BENCH_CASES:-}" ] && ! echo "VHDX" | grep -Eq "$BENCH_CASES"; then
  :
else
  [ -f "$vhdx" ] || qemu-img convert -f raw -O vhdx "$random" "$vhdx"
  cat "$vhdx" > /dev/null
  QIN=vhdx run "4 GiB VHDX->fixed VHD (random)" "$vhdx" -O vpc -o subformat=fixed -- --format vhd
  QIN=vhdx run "4 GiB VHDX->raw (random)"       "$vhdx" -O raw -- --format raw
  run "raw->VHDX (random)" "$random" -O vhdx -o block_size=32M -- --format vhdx
fi
