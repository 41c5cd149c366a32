#!/bin/bash
# --in-place edits the image itself (here qcow2 overlays of a fixture, so
# the fixture stays intact), saying so first; a dirty hive whose logs are
# gone is edited with a warning and written back clean; dirty hives whose
# LOG1 holds the newest data (bad-dirty: SYSTEM's CSDVersion, SOFTWARE's
# InstallDate, Administrator's LocaleName are only there) are recovered
# from it, and the values are in the image after; every edited hive's
# .LOG1/.LOG2 are emptied.  bad-dirty's DEFAULT is incomplete (zeroed bins,
# nothing reachable there: trimmed) and Administrator's UsrClass.dat is
# cut (a value's data in zeroed bins): --repair-hives drops that value,
# the report lists it, and the hive in the image lacks only it (hivexget,
# regfexport, tests/hive-consistency.pl).
. "$top_srcdir/tests/functions.sh"
requires command -v guestfish
requires command -v qemu-img
requires command -v hivexget
requires command -v jq

base=$(image bad-dirty)
# A dry run shows what recovery would do, hive by hive, and writes nothing.
sum=$(sha256sum < "$base")
winseal generalize --dry-run --repair-hives --no-progress --allow-dir "$FIXTURES_DIR" "$base" \
  > "$tmp/dry" 2> "$tmp/dry.err" || { cat "$tmp/dry.err"; fail "generalize --dry-run failed"; }
grep -q '^  SYSTEM: recovered from SYSTEM.LOG1 (1 entry, 1 page, [0-9]* bytes changed, sequence 2)$' "$tmp/dry" \
  && grep -q '^  DEFAULT: trimmed: its bins said 16384 bytes, cut to the 8192 present$' "$tmp/dry" \
  && grep -q "^    dropped: .Local Settings.Software.Microsoft.Windows.Shell.Bags.1.Desktop: value 'ItemPos'" "$tmp/dry" \
  || { cat "$tmp/dry"; fail "the dry run does not show what recovery would do"; }
[ "$(sha256sum < "$base")" = "$sum" ] || fail "the dry run changed the image"
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

winseal generalize --in-place --no-progress --repair-hives --allow-dir "$FIXTURES_DIR" "$ov" > "$tmp/out" 2> "$tmp/err" \
  || { cat "$tmp/err"; fail "generalize --in-place failed"; }
head -n1 "$tmp/out" | grep -q -- "--in-place: .* itself is being modified" \
  || fail "no confirmation line first: $(head -n1 "$tmp/out")"
grep -q "warning: the SYSTEM hive .* is dirty but its logs hold nothing newer" "$tmp/err" \
  || { cat "$tmp/err"; fail "no warning for the dirty hive"; }

# The same fixture with its logs: SYSTEM is recovered from LOG1.
ov2="$tmp/ov2.qcow2"
qemu-img create -q -f qcow2 -b "$base" -F raw "$ov2"
winseal generalize --in-place --no-progress --json --repair-hives --allow-dir "$FIXTURES_DIR" "$ov2" \
  > "$tmp/out2" 2> "$tmp/err2" || { cat "$tmp/err2"; fail "generalize --in-place of a dirty hive with its log failed"; }
for h in SYSTEM SOFTWARE "NTUSER.DAT of Administrator"; do
  grep -q "warning: the $h hive .* was dirty: recovered from .*LOG1 (1 entry, 1 page" "$tmp/err2" \
    || { cat "$tmp/err2"; fail "no warning for the recovered $h hive"; }
done
sed -n '/^{/,$p' "$tmp/out2" > "$tmp/rep2.json"
[ "$(jq -r '[.hive_recovery[] | select(.state == "recovered" and .entries == 1) | .hive] | sort | join(",")' "$tmp/rep2.json")" = "NTUSER.DAT of Administrator,SOFTWARE,SYSTEM" ] \
  || fail "the report does not record the recovery: $(jq -c .hive_recovery "$tmp/rep2.json")"

grep -q "warning: the DEFAULT hive .* was incomplete (its bins said 16384 bytes, 8192 are there, and nothing reachable lies past them): cut to them" "$tmp/err2" \
  && grep -q "warning: the UsrClass.dat of Administrator hive .* was incomplete (its bins said 16384 bytes, 8192 are there): repaired, dropping 1 reference" "$tmp/err2" \
  || { cat "$tmp/err2"; fail "no warning for the trimmed DEFAULT or the repaired UsrClass.dat"; }
bags='Local Settings\Software\Microsoft\Windows\Shell\Bags\1\Desktop'
[ "$(jq -r '.hive_recovery[] | select(.hive == "UsrClass.dat of Administrator") | "\(.state) \(.dropped_count) \(.dropped[0])"' "$tmp/rep2.json")" = "repaired 1 \\$bags: value 'ItemPos' (its data lies in the missing hive bins)" ] \
  || fail "the report does not list what the repair dropped: $(jq -c '.hive_recovery' "$tmp/rep2.json")"
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
download /Users/Administrator/AppData/Local/Microsoft/Windows/UsrClass.dat $tmp/UsrClass2
download /Windows/System32/config/DEFAULT $tmp/DEFAULT2
EOS
[ "$(hivexget "$tmp/SYSTEM2" 'ControlSet001\Control\Windows' CSDVersion)" = 256 ] \
  || fail "SYSTEM: the value only the log had is not in the image"
[ "$(hivexget "$tmp/SOFTWARE2" 'Microsoft\Windows NT\CurrentVersion' InstallDate)" = 1685620801 ] \
  || fail "SOFTWARE: the value only the log had is not in the image"
[ "$(hivexget "$tmp/NTUSER2" 'Control Panel\International' LocaleName)" = de-DE ] \
  || fail "NTUSER.DAT: the value only the log had is not in the image"
! hivexget "$tmp/UsrClass2" "$bags" ItemPos > /dev/null 2>&1 \
  && [ "$(hivexget "$tmp/UsrClass2" 'Local Settings\Software\Microsoft\Windows\Shell\BagMRU' NodeSlots | od -An -tx1 | tr -d ' ')" = 02 ] \
  || fail "UsrClass.dat in the image is not the repaired hive"
perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/UsrClass2" > /dev/null \
  || fail "UsrClass.dat in the image: $(perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/UsrClass2")"
for h in UsrClass2 DEFAULT2; do
  winseal hive check "$tmp/$h" | grep -q ": clean$" || fail "$h is not clean in the image"
  if command -v regfexport > /dev/null; then
    regfexport "$tmp/$h" > /dev/null 2> "$tmp/rerr" && [ ! -s "$tmp/rerr" ] || fail "regfexport $h: $(head -c 200 "$tmp/rerr")"
  fi
done
[ "$(od -An -tu4 -j40 -N4 "$tmp/DEFAULT2" | tr -d ' ')" -le 8192 ] || fail "DEFAULT still counts its missing bins"
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
echo "in place: SYSTEM clean (sequence $s1), logs emptied, verify passes; SYSTEM, SOFTWARE and an NTUSER.DAT recovered from their LOG1, DEFAULT trimmed, UsrClass.dat repaired"
