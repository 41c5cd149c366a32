#!/bin/bash
# --in-place edits the image itself (here a qcow2 overlay of a fixture, so
# the fixture stays intact), saying so first; a dirty hive whose logs are
# gone is edited with a warning and written back clean; every edited
# hive's .LOG1/.LOG2 are emptied.
. "$top_srcdir/tests/functions.sh"
requires command -v guestfish
requires command -v qemu-img

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

guestfish --ro --format=qcow2 -a "$ov" > "$tmp/sizes" <<EOS
run
mount-ro /dev/sda$p /
download /Windows/System32/config/SYSTEM $tmp/SYSTEM
filesize /Windows/System32/config/SOFTWARE.LOG1
filesize /Windows/System32/config/SAM.LOG1
EOS
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
echo "in place: SYSTEM clean (sequence $s1), logs emptied, verify passes"
