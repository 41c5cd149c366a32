#!/bin/bash
# --in-place edits the image itself (here qcow2 overlays of a fixture, so
# the fixture stays intact), saying so first; a dirty hive whose logs are
# gone is edited with a warning and written back clean; dirty hives whose
# LOG1 holds the newest data (bad-dirty: SYSTEM's CSDVersion, SOFTWARE's
# InstallDate, Administrator's LocaleName are only there) are recovered
# from it, and the values are in the image after; every edited hive's
# .LOG1/.LOG2 are emptied.
. "$top_srcdir/tests/functions.sh"
requires command -v guestfish
requires command -v qemu-img
requires command -v hivexget
requires command -v jq

base=$(image bad-dirty)
ov="$tmp/ov.qcow2"
qemu-img create -q -f qcow2 -b "$base" -F raw "$ov"
p=$(c_part bad-dirty)
# The dirty SYSTEM hive loses its logs: nothing newer exists anywhere.
guestfish --format=qcow2 -a "$ov" <<EOS
run
mount /dev/sda$p /
rm /Windows/System32/config/SYSTEM.LOG1
-rm /Windows/System32/config/SYSTEM.LOG2
EOS

winseal generalize --in-place --no-progress --allow-dir "$FIXTURES_DIR" "$ov" > "$tmp/out" 2> "$tmp/err" \
  || { cat "$tmp/err"; fail "generalize --in-place failed"; }
head -n1 "$tmp/out" | grep -q -- "--in-place: .* itself is being modified" \
  || fail "no confirmation line first: $(head -n1 "$tmp/out")"
grep -q "warning: the SYSTEM hive .* is dirty but its logs hold nothing newer" "$tmp/err" \
  || { cat "$tmp/err"; fail "no warning for the dirty hive"; }

# The same fixture with its logs: SYSTEM is recovered from LOG1.
ov2="$tmp/ov2.qcow2"
qemu-img create -q -f qcow2 -b "$base" -F raw "$ov2"
winseal generalize --in-place --no-progress --json --allow-dir "$FIXTURES_DIR" "$ov2" \
  > "$tmp/out2" 2> "$tmp/err2" || { cat "$tmp/err2"; fail "generalize --in-place of a dirty hive with its log failed"; }
for h in SYSTEM SOFTWARE "NTUSER.DAT of Administrator"; do
  grep -q "warning: the $h hive .* was dirty: recovered from .*LOG1 (1 entry, 1 page" "$tmp/err2" \
    || { cat "$tmp/err2"; fail "no warning for the recovered $h hive"; }
done
sed -n '/^{/,$p' "$tmp/out2" > "$tmp/rep2.json"
[ "$(jq -r '[.hive_recovery[] | select(.state == "recovered" and .entries == 1) | .hive] | sort | join(",")' "$tmp/rep2.json")" = "NTUSER.DAT of Administrator,SOFTWARE,SYSTEM" ] \
  || fail "the report does not record the recovery: $(jq -c .hive_recovery "$tmp/rep2.json")"

guestfish --ro --format=qcow2 -a "$ov" --format=qcow2 -a "$ov2" > "$tmp/sizes" <<EOS
run
mount-ro /dev/sda$p /
download /Windows/System32/config/SYSTEM $tmp/SYSTEM
filesize /Windows/System32/config/SOFTWARE.LOG1
filesize /Windows/System32/config/SAM.LOG1
umount /
mount-ro /dev/sdb$p /
download /Windows/System32/config/SYSTEM $tmp/SYSTEM2
filesize /Windows/System32/config/SYSTEM.LOG1
download /Windows/System32/config/SOFTWARE $tmp/SOFTWARE2
download /Users/Administrator/NTUSER.DAT $tmp/NTUSER2
EOS
[ "$(hivexget "$tmp/SYSTEM2" 'ControlSet001\Control\Windows' CSDVersion)" = 256 ] \
  || fail "SYSTEM: the value only the log had is not in the image"
[ "$(hivexget "$tmp/SOFTWARE2" 'Microsoft\Windows NT\CurrentVersion' InstallDate)" = 1685620801 ] \
  || fail "SOFTWARE: the value only the log had is not in the image"
[ "$(hivexget "$tmp/NTUSER2" 'Control Panel\International' LocaleName)" = de-DE ] \
  || fail "NTUSER.DAT: the value only the log had is not in the image"
[ "$(sed -n 3p "$tmp/sizes")" = 0 ] || fail "the recovered hive's LOG1 was not emptied: $(cat "$tmp/sizes")"
winseal hive check "$tmp/SYSTEM2" | grep -q ": clean$" || fail "the recovered SYSTEM is not clean in the image"
# Base block: primary and secondary sequence numbers equal (clean).
s1=$(od -An -tu4 -j4 -N4 "$tmp/SYSTEM" | tr -d ' ')
s2=$(od -An -tu4 -j8 -N4 "$tmp/SYSTEM" | tr -d ' ')
[ "$s1" = "$s2" ] || fail "SYSTEM is still dirty ($s1 != $s2)"
if command -v regfexport >/dev/null; then
  regfexport "$tmp/SYSTEM" > /dev/null 2> "$tmp/rerr" && [ ! -s "$tmp/rerr" ] \
    || fail "regfexport: $(head -c 200 "$tmp/rerr")"
fi
[ "$(head -n2 "$tmp/sizes" | tr '\n' ' ')" = "0 0 " ] || fail "logs not emptied: $(cat "$tmp/sizes")"
winseal verify --allow-dir "$FIXTURES_DIR" "$ov" > "$tmp/v" || { cat "$tmp/v"; fail "verify fails after --in-place"; }
echo "in place: SYSTEM clean (sequence $s1), logs emptied, verify passes; SYSTEM, SOFTWARE and an NTUSER.DAT recovered from their LOG1"
