#!/bin/bash
# winseal clone: three clones of one golden image, each with its own SID
# and computer name (read back with RegRipper from hives guestfish copies
# out), each passing winseal verify against the golden SID; bad patterns
# and counts refused before any work.  The golden image is bad-dirty (as
# a live copy leaves a machine: dirty hives whose newest values are only
# in their LOG1, an incomplete DEFAULT, a cut UsrClass.dat): with
# --repair-hives every clone holds the values only the logs had (hivexget)
# and a UsrClass.dat without the value that lay in the missing bins.
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v regripper
requires command -v hivexget

img=$(image bad-dirty)
golden=$(spec_get bad-dirty MACHINE_SID)

# Refused before any work (exit 1, nothing written).
for args in "-n 0 -o $tmp/x-%d.vhd" "-n 2 -o $tmp/x.vhd" "-n 2 -o $tmp/x-%s.vhd" \
            "-n 2 -o $tmp/x-%d.vhd --computer-name BAD_%d" "-n 2 -o $tmp/x-%d.vhd --sid S-1-5-21-1-2-3" \
            "-n 2 -o $tmp/x-%d.vhd --in-place"; do
  set +e
  # shellcheck disable=SC2086
  winseal clone $args "$img" > /dev/null 2> "$tmp/err"
  rc=$?
  set -e
  [ $rc = 1 ] || fail "clone $args: exit $rc, not 1"
  [ -s "$tmp/err" ] || fail "clone $args: no message"
done
[ -z "$(ls "$tmp" | grep '^x')" ] || fail "a refused clone wrote files"

sum=$(sha256sum < "$img")
winseal clone "$img" -n 3 -o "$tmp/web-%02d.qcow2" --computer-name 'WEB-%02d' --target openstack --json --no-progress --repair-hives \
  > "$tmp/r.json" 2> "$tmp/err" || { cat "$tmp/err"; fail "winseal clone failed"; }
[ "$(sha256sum < "$img")" = "$sum" ] || fail "the golden image changed"
[ "$(jq -r .old_sid "$tmp/r.json")" = "$golden" ] || fail "report old_sid"
[ "$(jq '.clones | length' "$tmp/r.json")" = 3 ] || fail "the report lists $(jq '.clones | length' "$tmp/r.json") clones"

# Every clone: qemu-img checks it; its hives (copied out by guestfish, read
# by RegRipper) hold its own SID and name.
cat > "$tmp/gf" <<EOF
add $tmp/web-01.qcow2 readonly:true format:qcow2
add $tmp/web-02.qcow2 readonly:true format:qcow2
add $tmp/web-03.qcow2 readonly:true format:qcow2
run
EOF
part=$(c_part bad-dirty)
for i in 1 2 3; do
  qemu-img check -q "$tmp/web-0$i.qcow2" || fail "qemu-img check fails on clone $i"
  d=$(echo abc | cut -c"$i")
  mkdir -p "$tmp/h$i"
  printf 'mount-ro /dev/sd%s%s /\ndownload /Windows/System32/config/SAM %s/h%s/SAM\ndownload /Windows/System32/config/SYSTEM %s/h%s/SYSTEM\n' \
    "$d" "$part" "$tmp" "$i" "$tmp" "$i" >> "$tmp/gf"
  printf 'download /Windows/System32/config/SOFTWARE %s/h%s/SOFTWARE\n' "$tmp" "$i" >> "$tmp/gf"
  printf 'download /Users/Administrator/AppData/Local/Microsoft/Windows/UsrClass.dat %s/h%s/UsrClass.dat\numount-all\n' \
    "$tmp" "$i" >> "$tmp/gf"
done
guestfish -f "$tmp/gf" > /dev/null
sids=() names=() guids=() seeds=()
for i in 1 2 3; do
  s=$(regripper -r "$tmp/h$i/SAM" -p samparse 2>/dev/null | sed -n 's/^SID *: \(S-1-5-21-[0-9]*-[0-9]*-[0-9]*\)-500$/\1/p' | head -n1)
  n=$(regripper -r "$tmp/h$i/SYSTEM" -p compname 2>/dev/null | sed -n 's/^ComputerName *= *//p' | head -n1)
  [ -n "$s" ] || fail "clone $i: samparse shows no SID"
  [ "$s" != "$golden" ] || fail "clone $i kept the golden SID"
  [ "$s" = "$(jq -r ".clones[$((i - 1))].new_sid" "$tmp/r.json")" ] || fail "clone $i: SID differs from the report"
  [ "$n" = "$(printf 'WEB-%02d' "$i")" ] || fail "clone $i: computer name '$n'"
  [ "$(hivexget "$tmp/h$i/SYSTEM" 'ControlSet001\Control\Windows' CSDVersion)" = 256 ] \
    || fail "clone $i: SYSTEM lacks the value only its LOG1 had"
  bags='Local Settings\Software\Microsoft\Windows\Shell\Bags\1\Desktop'
  ! hivexget "$tmp/h$i/UsrClass.dat" "$bags" ItemPos > /dev/null 2>&1 \
    && [ "$(hivexget "$tmp/h$i/UsrClass.dat" 'Local Settings\Software\Microsoft\Windows\Shell\BagMRU' NodeSlots | od -An -tx1 | tr -d ' ')" = 02 ] \
    || fail "clone $i: UsrClass.dat is not the repaired one"
  perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/h$i/UsrClass.dat" > /dev/null || fail "clone $i: $(perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/h$i/UsrClass.dat")"
  sids+=("$s") names+=("$n")
  guids+=("$(hivexget "$tmp/h$i/SOFTWARE" 'Microsoft\Cryptography' MachineGuid)")
  seeds+=("$(hivexget "$tmp/h$i/SYSTEM" RNG Seed | od -An -tx1 | tr -d ' \n')")
  ! hivexget "$tmp/h$i/SOFTWARE" 'Microsoft\Windows\CurrentVersion\WindowsUpdate' SusClientId > /dev/null 2>&1 \
    || fail "clone $i keeps the golden SusClientId"
done
# machine-ids: per clone, read back by hivexget.
[ "$(printf '%s\n' "${guids[@]}" | grep -c .)" = 3 ] && [ "$(printf '%s\n' "${guids[@]}" | sort -u | wc -l)" = 3 ] \
  && ! printf '%s\n' "${guids[@]}" | grep -qx "$(spec_get bad-dirty MACHINE_GUID)" \
  || fail "clones share a MachineGuid or keep the golden one: ${guids[*]}"
[ "$(printf '%s\n' "${seeds[@]}" | sort -u | wc -l)" = 3 ] || fail "clones share an RNG seed: ${seeds[*]}"
[ "$(printf '%s\n' "${sids[@]}" | sort -u | wc -l)" = 3 ] || fail "clones share a SID: ${sids[*]}"
[ "$(printf '%s\n' "${names[@]}" | sort -u | wc -l)" = 3 ] || fail "clones share a name: ${names[*]}"
# The three in one verify (one appliance launch, one disk each).
winseal verify --json --target openstack --old-sid "$golden" "$tmp"/web-0[123].qcow2 > "$tmp/v.json" \
  || { jq -c '.[] | [.image, .failed]' "$tmp/v.json"; fail "a clone does not pass verify"; }
for i in 1 2 3; do
  [ "$(jq -r ".[$((i - 1))] | \"\(.image) \(.failed)\"" "$tmp/v.json")" = "$tmp/web-0$i.qcow2 0" ] \
    || fail "clone $i: verify's report is not its own"
  jq -e ".[$((i - 1))].operations.target.failed == []" "$tmp/v.json" > /dev/null \
    || fail "clone $i: verify --target openstack ran no readiness check"
done
# --target openstack without Cloudbase-Init in the image: a generated
# answer file, as the report says.
[ "$(jq -r '.clones[0].operations.unattend | "\(.target) \(.source)"' "$tmp/r.json")" = "openstack generated" ] \
  || fail "clone 1's answer file: $(jq -c '.clones[0].operations.unattend' "$tmp/r.json")"
# Clones after the first look only where the first found anything
# (their file-system pass reads the entries it saved, not the whole tree):
# the third clone holds no trace of the second's SID either.
[ "$(jq '.clones[0].operations["sid-reset"].file_system.from_previous_pass' "$tmp/r.json")" = false ] \
  || fail "clone 1 did not walk the volumes"
[ "$(jq '.clones[2].operations["sid-reset"].file_system.from_previous_pass' "$tmp/r.json")" = true ] \
  || fail "clone 3 walked the volumes again"
winseal verify --old-sid "${sids[1]}" "$tmp/web-03.qcow2" > "$tmp/v32" \
  || { cat "$tmp/v32"; fail "clone 3 holds clone 2's SID"; }
[ "$(jq -r '[.hive_recovery[] | "\(.hive)=\(.state)"] | sort | join(" ")' "$tmp/r.json")" = "DEFAULT=trimmed NTUSER.DAT of Administrator=recovered SOFTWARE=recovered SYSTEM=recovered UsrClass.dat of Administrator=repaired" ] \
  || fail "the report's hive_recovery: $(jq -c '.hive_recovery' "$tmp/r.json")"
echo "clone: 3 clones, SIDs ${sids[*]}, names ${names[*]}, each verified (and clone 3 against clone 2's SID)"
