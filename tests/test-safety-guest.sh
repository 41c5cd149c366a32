#!/bin/bash
# Hostile images and faults with the appliance: ProfileImagePath values
# that lead out of the profiles folder (out of the volume, to its root, to
# Default, Public and System32, through "..") are refused by name and
# nothing is deleted (guestfish reads the files back); a TMPDIR too small
# is refused before the appliance starts, and an overlay whose file system
# fills up while generalize runs gives one error line, not a paused qemu
# waiting for ever (nor a stopped one: the watchdog);
# generalize stopped by SIGTERM leaves nothing; killed with SIGKILL at three points leaves nothing at OUTPUT,
# and the next run removes what the killed ones left in TMPDIR and beside
# OUTPUT.
. "$top_srcdir/tests/functions.sh"
requires command -v guestfish

# The appliance cache stays where it is when TMPDIR is pointed elsewhere.
export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-/var/tmp}
mounted=
cleanup () {
  [ -z "$mounted" ] || umount -l "$mounted" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for PID GLOB: until a file matching GLOB exists (0) or PID ends or
# 5 minutes pass (1).
wait_for () {
  local i
  for i in $(seq 1 3000); do
    compgen -G "$2" > /dev/null && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- 1. hostile ProfileImagePath values: refused by name, nothing deleted ----
cp --sparse=always "$(image bad-profiles)" "$tmp/bp.img"
sid=$(spec_get bad-profiles MACHINE_SID)
set +e
winseal generalize --in-place --no-progress "$tmp/bp.img" > "$tmp/bp.out" 2> "$tmp/bp.err"
rc=$?
set -e
[ $rc = 1 ] || { cat "$tmp/bp.err"; fail "hostile profiles: exit $rc, not 1"; }
for want in '1000: its ProfileImagePath "C:\Users\..\Victim" holds a "." or ".." component' \
            '1001: its ProfileImagePath "C:\Users\Default" is C:\Users\Default;' \
            '1002: its ProfileImagePath "C:\" is the root of the Windows volume' \
            '1003: its ProfileImagePath "C:\..\..\outside" holds a "." or ".." component' \
            '1004: its ProfileImagePath "%SystemRoot%\System32" is inside C:\Windows;' \
            '1005: its ProfileImagePath "C:\Users\Public\evil6" is inside C:\Users\Public;'; do
  grep -qF "profile $sid-$want" "$tmp/bp.err" || { cat "$tmp/bp.err"; fail "not refused by name: $want"; }
done
! grep -q "$sid-1006" "$tmp/bp.err" || fail "the ordinary profile was refused"
guestfish --ro --format=raw -a "$tmp/bp.img" > "$tmp/bp.ls" <<EOS
run
mount-ro /dev/sda$(c_part bad-profiles) /
cat /Victim/keep.txt
ls /Users
is-dir /Windows/System32/config
EOS
grep -q "winseal fixture file Victim/keep.txt" "$tmp/bp.ls" || fail "C:\\Victim\\keep.txt is gone"
for u in Default Public carl evil1 evil2 evil6; do
  grep -qx "$u" "$tmp/bp.ls" || fail "C:\\Users\\$u is gone: $(cat "$tmp/bp.ls")"
done
[ "$(tail -n1 "$tmp/bp.ls")" = true ] || fail "System32 was touched"

# ---- 2. TMPDIR: too small (refused first), full while running (an error) ----
img=$(image ws2012r2)
if mkdir -p "$tmp/small" && mount -t tmpfs -o size=16m tmpfs "$tmp/small" 2>/dev/null; then
  mounted=$tmp/small
  set +e
  TMPDIR=$tmp/small timeout 60 "$WINSEAL" generalize --no-progress "$img" -o "$tmp/s.vhd" \
    > /dev/null 2> "$tmp/small.err"
  rc=$?
  set -e
  [ $rc = 1 ] || { cat "$tmp/small.err"; fail "a small TMPDIR: exit $rc, not 1"; }
  grep -q "TMPDIR $tmp/small: 1[0-6] MiB free, winseal needs about 768 MiB there" "$tmp/small.err" \
    || { cat "$tmp/small.err"; fail "a small TMPDIR is not named"; }
  [ "$(wc -l < "$tmp/small.err")" = 1 ] || fail "a small TMPDIR gave more than one line"
  umount "$tmp/small"
  # The overlay on a file system with room for the check, filled up as
  # soon as the overlay is made (TMPDIR, where the appliance's own files
  # go, keeps its room): qemu's writes fail (it does not pause), and the
  # run says where space is missing.
  mount -t tmpfs -o size=800m tmpfs "$tmp/small"
  mkdir -p "$tmp/T0"
  ( TMPDIR=$tmp/T0 exec $VG "$WINSEAL" generalize --no-progress --keep-overlay "$tmp/small/ov.qcow2" \
      "$img" -o "$tmp/full.vhd" > /dev/null 2> "$tmp/full.err" ) &
  pid=$!
  wait_for $pid "$tmp/small/ov.qcow2" || { cat "$tmp/full.err"; fail "no overlay appeared"; }
  dd if=/dev/zero of="$tmp/small/filler" bs=1M status=none 2>/dev/null || true
  dd if=/dev/zero of="$tmp/small/filler2" bs=4k status=none 2>/dev/null || true
  # Bounded: qemu must not pause for ever.
  for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 1; done
  if kill -0 $pid 2>/dev/null; then kill -9 $pid; fail "generalize hangs with the overlay's file system full"; fi
  set +e; wait $pid; rc=$?; set -e
  [ $rc != 0 ] || fail "generalize succeeded with the overlay's file system full"
  grep -q "$tmp/small is full: the overlay that holds the changes cannot grow" "$tmp/full.err" \
    || { cat "$tmp/full.err"; fail "a full overlay file system is not said"; }
  [ "$(grep -vc 'warning:' "$tmp/full.err")" = 1 ] || { cat "$tmp/full.err"; fail "a full file system: more than one error line"; }
  [ ! -e "$tmp/full.vhd" ] || fail "a full file system left an output"
  [ -z "$(ls -A "$tmp/T0")" ] || fail "a full file system left temporary files: $(ls -A "$tmp/T0")"
  umount "$tmp/small"
  mounted=
  echo "TMPDIR too small: refused first; overlay's file system full while running: exit $rc, one error line"
else
  echo "TMPDIR checks skipped: cannot mount a tmpfs here (not root)"
fi

# ---- 2b. a stopped qemu (as a paused one): the watchdog ends the wait ----
mkdir -p "$tmp/T1"
( TMPDIR=$tmp/T1 WINSEAL_APPLIANCE_STALL=10 exec $VG "$WINSEAL" generalize --no-progress "$img" \
    -o "$tmp/stall.vhd" > /dev/null 2> "$tmp/stall.err" ) &
pid=$!
wait_for $pid "$tmp/T1/winseal-*/hive*" || { cat "$tmp/stall.err"; fail "no hive copies appeared"; }
qemu=$(pgrep -P $pid -f qemu-system || true)
[ -n "$qemu" ] || { cat "$tmp/stall.err"; fail "no qemu child of winseal"; }
kill -STOP $qemu
for _ in $(seq 1 120); do kill -0 $pid 2>/dev/null || break; sleep 1; done
if kill -0 $pid 2>/dev/null; then kill -9 $qemu $pid; fail "generalize waits for ever on a stopped qemu"; fi
set +e; wait $pid; rc=$?; set -e
[ $rc != 0 ] || fail "generalize succeeded with its qemu stopped"
grep -q "the appliance stopped making progress (qemu used no CPU for 10 s)" "$tmp/stall.err" \
  || { cat "$tmp/stall.err"; fail "the watchdog's reason is not said"; }
[ ! -e "$tmp/stall.vhd" ] || fail "a stopped qemu left an output"
echo "a stopped qemu: the run ended (exit $rc) naming the watchdog"

# ---- 3. SIGTERM while the hives are on the host: everything goes at once ----
mkdir -p "$tmp/T2" "$tmp/o2"
( TMPDIR=$tmp/T2 exec $VG "$WINSEAL" generalize --no-progress "$img" -o "$tmp/o2/out.vhd" \
    > /dev/null 2> "$tmp/term.err" ) &
pid=$!
wait_for $pid "$tmp/T2/winseal-*/hive*" || { cat "$tmp/term.err"; fail "no hive copies appeared"; }
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 143 ] || { cat "$tmp/term.err"; fail "SIGTERM: exit $rc, not 143"; }
[ -z "$(ls -A "$tmp/T2" | grep '^winseal')" ] || fail "SIGTERM left winseal's directories: $(ls -A "$tmp/T2")"
[ -z "$(ls -A "$tmp/o2")" ] || fail "SIGTERM left files beside the output: $(ls -A "$tmp/o2")"
echo "SIGTERM with the hives on the host: exit 143, nothing left"

# ---- 4. SIGKILL at three points; the next run cleans up ----
T=$tmp/T
mkdir -p "$T" "$tmp/o"
kill_at () {            # kill_at GLOB [IMAGE]: start generalize, SIGKILL it when GLOB exists
  ( TMPDIR=$T exec $VG "$WINSEAL" generalize --no-progress "${2:-$img}" -o "$tmp/o/out.vhd" > /dev/null 2>&1 ) &
  local pid=$!
  wait_for $pid "$1" || fail "$1 never appeared (or generalize ended first)"
  kill -9 $pid
  wait $pid 2>/dev/null || true
  [ ! -e "$tmp/o/out.vhd" ] || fail "SIGKILL at $1 left an output"
}
kill_at "$T/winseal-*/overlay.qcow2"
kill_at "$T/winseal-*/hive*"
# The output of ws2012r2 is written in some 30 ms: the temporary output is
# caught on an image with 1 GiB of data after its partition (written in
# seconds).
big=$tmp/big.img
cp --sparse=always "$img" "$big"
isize=$(stat -c %s "$img")
truncate -s 2G "$big"
tr '\0' 'Z' < /dev/zero | dd of="$big" bs=1M seek=$((isize / 1048576)) count=1024 \
  conv=notrunc iflag=fullblock status=none
kill_at "$tmp/o/.winseal-tmp-*" "$big"
rm -f "$big"
compgen -G "$T/winseal-*" > /dev/null || fail "the killed runs left nothing to clean (the test is wrong)"
compgen -G "$tmp/o/.winseal-tmp-*" > /dev/null || fail "no temporary output was left (the test is wrong)"
sleep 2                 # the killed runs' qemus go (libguestfs' recovery process)
TMPDIR=$T winseal generalize --no-progress "$img" -o "$tmp/o/out.vhd" > /dev/null 2> "$tmp/next.err" \
  || { cat "$tmp/next.err"; fail "the next run failed"; }
[ -z "$(ls -A "$T" | grep '^winseal')" ] || fail "the next run left the killed runs' directories: $(ls -A "$T")"
[ -z "$(find "$T" -name 'hive*' -o -name 'overlay.qcow2')" ] || fail "hive copies or overlays remain in TMPDIR"
[ -z "$(ls -A "$tmp/o" | grep -v '^out.vhd$')" ] || fail "temporary outputs remain: $(ls -A "$tmp/o")"
qemu-img info -f vpc "$tmp/o/out.vhd" > /dev/null || fail "the next run's output is not a VHD"
echo "hostile profiles refused (6), TMPDIR checks, SIGKILL at 3 points cleaned by the next run"
