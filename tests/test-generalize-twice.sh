#!/bin/bash
# --dry-run writes nothing (its input a VirtualBox VDI made by qemu-img:
# probed and read as such; then a differencing VHDX, which qemu cannot
# open, staged through winseal's reader for generalize and verify); generalizing an already generalized image (a
# VHD input, qcow2 output) keeps one winseal block in SetupComplete.cmd
# after the image's own lines, moves the SID again and takes the options.
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v regripper
requires command -v qemu-img

img=$(image ws2012r2)
sum=$(sha256sum < "$img")

# Dry run: the plan, nothing written, the password never printed.
pw='Dry-Run-Secret-42'
echo "$pw" > "$tmp/pw"
qemu-img convert -O vdi "$img" "$tmp/dry.vdi"
vsum=$(sha256sum < "$tmp/dry.vdi")
winseal generalize --dry-run --json --no-progress --admin-password-file "$tmp/pw" \
  "$tmp/dry.vdi" -o "$tmp/dry.vhd" > "$tmp/dry.json" 2> "$tmp/dry.err" \
  || { cat "$tmp/dry.err"; fail "the dry run of a VDI failed"; }
rm -f "$tmp/pw"
! grep -q "$pw" "$tmp/dry.json" "$tmp/dry.err" || fail "the password was printed"
[ "$(jq -r '.operations.unattend.administrator_password' "$tmp/dry.json")" = true ] \
  || fail "the report does not say a password is set"
[ "$(jq -r .dry_run "$tmp/dry.json")" = true ] || fail "dry_run is not true"
[ "$(jq -r .input_format "$tmp/dry.json")" = vdi ] || fail "input_format is $(jq -r .input_format "$tmp/dry.json"), not vdi"
# As many operations as --list-operations marks enabled by default (12).
nops=$(winseal generalize --list-operations | grep -c '^[a-z-][a-z-]* *\* ')
[ "$nops" -ge 12 ] || fail "--list-operations marks only $nops operations enabled by default"
[ "$(jq '.operations | length' "$tmp/dry.json")" = "$nops" ] || fail "the plan does not list $nops operations"
jq -e '.operations["rdp-deny"].changes | length > 0' "$tmp/dry.json" >/dev/null \
  || fail "the plan lists no rdp-deny change"
jq -e '.operations["profile-cleanup"].profiles_removed | length == 2' "$tmp/dry.json" >/dev/null \
  || fail "the plan does not remove the two user profiles"
[ ! -e "$tmp/dry.vhd" ] || fail "--dry-run wrote the output"
[ -z "$(ls -A "$tmp" | grep -v 'dry\.')" ] || fail "--dry-run left files: $(ls -A "$tmp")"
[ "$(sha256sum < "$tmp/dry.vdi")" = "$vsum" ] || fail "--dry-run changed the input"
jq -e '.operations["sid-reset"].file_system.descriptors_to_rewrite > 0' "$tmp/dry.json" >/dev/null \
  || fail "the plan counts no NTFS descriptor to rewrite"
jq -e '.operations["sid-reset"].file_system.folders_renamed == 0' "$tmp/dry.json" >/dev/null \
  || fail "the dry run renamed folders"

# A Hyper-V checkpoint of the image: a differencing VHDX
# (tests/vhdx-diff.pl) that holds the NTFS boot sector's MiB itself, over
# a dynamic VHDX parent whose copy of that MiB is garbage.  qemu cannot
# open such a file; winseal stages it (its own reader into a temporary
# qcow2) for the appliance, and so finds Windows only by reading the
# child where the child holds the data.
cp --sparse=always "$img" "$tmp/spoilt.raw"
head -c 1M /dev/urandom | dd of="$tmp/spoilt.raw" bs=1M seek=1 conv=notrunc status=none
qemu-img convert -O vhdx "$tmp/spoilt.raw" "$tmp/ckpt-parent.vhdx"
perl "$top_srcdir/tests/vhdx-diff.pl" --data "$img" --no-zero-states --rel 'ckpt-parent.vhdx' \
  "$tmp/ckpt-parent.vhdx" "$tmp/spoilt.raw" "$tmp/ckpt.avhdx" "$tmp/ckpt.ref"
cmp -s "$tmp/ckpt.ref" "$img" || fail "the checkpoint builder does not lay out the image"
rm -f "$tmp/spoilt.raw" "$tmp/ckpt.ref"
csum=$(cat "$tmp/ckpt.avhdx" "$tmp/ckpt-parent.vhdx" | sha256sum)
winseal generalize --dry-run --json --no-progress "$tmp/ckpt.avhdx" -o "$tmp/ckpt.vhd" \
  > "$tmp/ckpt.json" 2> "$tmp/ckpt.err" || { cat "$tmp/ckpt.err"; fail "the dry run of a differencing VHDX failed"; }
grep -q 'ckpt.avhdx is a differencing VHDX .*temporary qcow2' "$tmp/ckpt.err" \
  || fail "generalize does not say it stages the differencing VHDX: $(cat "$tmp/ckpt.err")"
[ "$(jq -r .input_format "$tmp/ckpt.json")" = vhdx ] || fail "input_format is $(jq -r .input_format "$tmp/ckpt.json")"
jq -e '.input_staged | test("differencing VHDX")' "$tmp/ckpt.json" > /dev/null \
  || fail "the report does not say the input was staged"
jq -e '.operations["profile-cleanup"].profiles_removed | length == 2' "$tmp/ckpt.json" >/dev/null \
  || fail "the dry run of the checkpoint does not see the two user profiles"
status=0
winseal generalize --in-place "$tmp/ckpt.avhdx" > /dev/null 2> "$tmp/ckpt.err" || status=$?
[ $status -ne 0 ] && grep -q 'ckpt.avhdx: --in-place: the image is a differencing VHDX' "$tmp/ckpt.err" \
  || fail "--in-place on a differencing VHDX: exit $status, $(cat "$tmp/ckpt.err")"

# verify on the input (through the checkpoint, staged again), told its own
# SID is the old one, names the offenders in the file system:
# descriptors, SID-named folders, the task.
old=$(spec_get ws2012r2 MACHINE_SID)
if winseal verify --old-sid "$old" --operations sid-reset "$tmp/ckpt.avhdx" > "$tmp/v0" 2>&1; then
  fail "verify passes on an image that still has its SID"
fi
grep -F 'FAIL sid-reset: C:\ProgramData\winseal-acl\' "$tmp/v0" | grep -q 'its security descriptor holds the old SID' \
  || { cat "$tmp/v0"; fail "verify does not name a descriptor holding the old SID"; }
grep -qF 'FAIL sid-reset: C:\$Recycle.Bin\'"$old"'-500: its name holds the old SID' "$tmp/v0" \
  || { cat "$tmp/v0"; fail "verify does not name the recycle bin"; }
grep -qF 'FAIL sid-reset: task \winseal\BuildAgent still names the old SID' "$tmp/v0" \
  || { cat "$tmp/v0"; fail "verify does not name the task"; }
[ "$(cat "$tmp/ckpt.avhdx" "$tmp/ckpt-parent.vhdx" | sha256sum)" = "$csum" ] \
  || fail "the dry run or verify changed the checkpoint or its parent"
[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 2 -name staged-input.qcow2 2>/dev/null)" ] || fail "a staged copy was left behind"
rm -f "$tmp/ckpt.avhdx" "$tmp/ckpt-parent.vhdx"

# Second run over the first run's output.
first=$(generalized ws2012r2)
sid1=$(jq -r .new_sid "$first/report.json")
sid2=S-1-5-21-111-2222-33333
# With libguestfs tracing on (-x), the password must not show up, plain or
# in its hidden (base64) form.
pw2='Second-Run-Secret-7'
echo "$pw2" > "$tmp/pw2"
hidden=$(perl -MMIME::Base64 -MEncode -e 'print encode_base64(encode("UTF-16LE", $ARGV[0] . "AdministratorPassword"), "")' "$pw2")
winseal -x generalize --json --no-progress --format qcow2 --sid "$sid2" --computer-name WS-SECOND \
  --admin-password-file "$tmp/pw2" --firstboot-command 'echo second run' \
  "$first/out.vhd" -o "$tmp/two.qcow2" > "$tmp/two.json" 2> "$tmp/two.trace"
grep -q "libguestfs: trace" "$tmp/two.trace" || fail "-x gave no trace"
! grep -qe "$pw2" -e "${hidden:0:24}" "$tmp/two.json" "$tmp/two.trace" \
  || fail "the password shows up in the trace or report"
[ "$(jq -r .old_sid "$tmp/two.json")" = "$sid1" ] || fail "the second run did not start from $sid1"
[ "$(jq -r .new_sid "$tmp/two.json")" = "$sid2" ] || fail "--sid was not used"
qemu-img check -q "$tmp/two.qcow2" || fail "qemu-img check fails on the qcow2 output"

guestfish --ro --format=qcow2 -a "$tmp/two.qcow2" > /dev/null <<EOS
run
mount-ro /dev/sda$(c_part ws2012r2) /
download /Windows/Setup/Scripts/SetupComplete.cmd $tmp/sc.cmd
download /Windows/System32/config/SYSTEM $tmp/SYSTEM
download /Windows/System32/config/SAM $tmp/SAM
EOS
sc=$tmp/sc.cmd
[ "$(grep -c '^REM >>> winseal' "$sc")" = 1 ] || fail "$(grep -c '^REM >>> winseal' "$sc") winseal blocks after two runs"
[ "$(grep -c '^REM <<< winseal' "$sc")" = 1 ] || fail "block ends after two runs"
[ "$(grep -c 'PostSysprep.cmd' "$sc")" = 1 ] || fail "the image's own line is not kept exactly once"
grep -q '^echo second run' "$sc" || fail "--firstboot-command missing"
[ "$(grep -c $'[^\r]$' "$sc" || true)" = 0 ] || fail "SetupComplete.cmd has LF-only lines"
# winseal's block comes first, the image's line after it.
[ "$(grep -n 'PostSysprep' "$sc" | cut -d: -f1)" -gt "$(grep -n '^REM <<< winseal' "$sc" | cut -d: -f1)" ] \
  || fail "the image's own lines are not after winseal's block"

regripper -r "$tmp/SYSTEM" -p compname 2>/dev/null | grep -q "ComputerName *= WS-SECOND" \
  || fail "compname does not show WS-SECOND"
regripper -r "$tmp/SAM" -p samparse 2>/dev/null | grep -q "^SID *: $sid2-500" \
  || fail "samparse does not show $sid2-500"
winseal verify --old-sid "$sid1" "$tmp/two.qcow2" > "$tmp/verify" \
  || { cat "$tmp/verify"; fail "verify fails after the second run"; }
echo "two runs: $sid1 -> $sid2, one winseal block"
