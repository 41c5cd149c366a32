#!/bin/bash
# winseal batch: a bad catalog is refused whole; a catalog with good
# images, a missing source and a corrupt image finishes the good ones
# (checked with qemu-img, vhdiinfo, sha256sum and winseal verify) and says
# "partial"; --resume redoes only what failed.  One good image is bad-dirty, with "repair-hives": true: its
# output holds the value only SYSTEM's LOG1 had and the repaired
# UsrClass.dat (hivexget; tests/hive-consistency.pl).
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v hivexget

good1=$(image ws2012r2)
good2=$(image win10)
dirty=$(image bad-dirty)
corrupt=$FIXTURES_DIR/bad-corrupt-hive.img
[ -f "$corrupt" ] || corrupt=$(image bad-unrecoverable)

# 1. A bad catalog: every problem reported, nothing done, exit 1.
cat > "$tmp/bad.json" <<EOF
{ "defaults": { "timezone": "UTC", "output": "x.vhd" },
  "colour": "blue",
  "images": [
    { "name": "a", "source": "$good1", "flavour": 1 },
    { "name": "a", "source": "$good2" },
    { "name": "b", "source": "$good2", "format": "iso" },
    { "name": "c", "source": "$good2", "computer-name": "not a valid name!" } ] }
EOF
set +e
winseal batch "$tmp/bad.json" -o "$tmp/badout" > "$tmp/bad.out" 2> "$tmp/bad.err"
rc=$?
set -e
[ $rc = 1 ] || fail "a bad catalog exits $rc, not 1"
for pat in 'unknown key "colour"' '"output" belongs to an image' 'unknown option .--flavour' \
           'the name is used twice' 'format "iso"' 'not a valid computer name' '6 problems in the catalog'; do
  grep -q -- "$pat" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "not reported: $pat"; }
done
[ -z "$(ls -A "$tmp/badout" 2>/dev/null)" ] || fail "a bad catalog left files: $(ls -A "$tmp/badout")"

# 2. Good images, a missing source, a corrupt image; two workers.
cat > "$tmp/cat.json" <<EOF
{ "defaults": { "timezone": "UTC" },
  "images": [
    { "name": "server", "source": "$dirty", "repair-hives": true },
    { "name": "missing", "source": "$tmp/later.img" },
    { "name": "desktop", "source": "$good2", "target": "aws", "vmdk-layout": "header-gd",
      "computer-name": "DESK-01" },
    { "name": "corrupt", "source": "$corrupt" } ] }
EOF
set +e
winseal batch "$tmp/cat.json" -o "$tmp/out" -j 2 --no-progress > "$tmp/run1.out" 2> "$tmp/run1.err"
rc=$?
set -e
[ $rc = 6 ] || { cat "$tmp/run1.err"; fail "a partly failed batch exits $rc, not 6"; }
m=$tmp/out/manifest.json
jq -e . "$m" > /dev/null || fail "the manifest is not JSON"
st () { jq -r --arg n "$1" '.builds[] | select(.name == $n) | .custom_data.'"$2" "$m"; }
[ "$(jq '.builds | length' "$m")" = 4 ] || fail "the manifest does not list 4 images"
[ "$(st server status)" = succeeded ] && [ "$(st desktop status)" = succeeded ] \
  || fail "the good images did not succeed: $(cat "$tmp/run1.err")"
[ "$(st missing status)" = failed ] && st missing error | grep -q "No such file" \
  || fail "the missing source is not a failure naming the problem"
[ "$(st corrupt status)" = failed ] && [ -n "$(st corrupt error)" ] || fail "the corrupt image did not fail"
[ ! -e "$tmp/out/missing.vhd" ] && [ ! -e "$tmp/out/corrupt.vhd" ] || fail "failed images left outputs"
# Packer's shape: name, builder_type, build_time, files, artifact_id, packer_run_uuid.
jq -e '.last_run_uuid and (.builds[] | select(.name == "server")
       | .builder_type and .build_time > 0 and (.files[0].name | endswith("/server.vhd"))
         and .files[0].size > 0 and .packer_run_uuid)' "$m" > /dev/null \
  || fail "the manifest entry is not shaped like Packer's"
# Independent oracles: sha256sum, qemu-img, vhdiinfo.
[ "$(st server output_sha256)" = "$(sha256sum < "$tmp/out/server.vhd" | cut -c1-64)" ] \
  || fail "output_sha256 of server is not the file's"
[ "$(jq -r '.builds[] | select(.name == "server") | .artifact_id' "$m")" = "$(st server output_sha256)" ] \
  || fail "artifact_id is not the output's sha256"
[ "$(st server source_sha256)" = "$(sha256sum < "$dirty" | cut -c1-64)" ] \
  || fail "source_sha256 of server is not the source's"
[ "$(st desktop computer_name)" = DESK-01 ] || fail "per-image computer-name not applied"
[ "$(st desktop format)" = vmdk ] || fail "the aws target's format (vmdk) not applied"
qemu-img check -q "$tmp/out/desktop.vmdk" || fail "qemu-img check fails on desktop.vmdk"
# The importers' checks, and "vmdk-layout": "header-gd" taken: the
# header's grain directory field is a sector, not "at the end" (-1).
perl "$top_srcdir/tests/vmdk-check.pl" "$tmp/out/desktop.vmdk" || fail "desktop.vmdk fails the importers' checks"
[ "$(od -An -tx8 -j56 -N8 "$tmp/out/desktop.vmdk" | tr -d ' ')" != ffffffffffffffff ] \
  || fail "desktop.vmdk: the header's grain directory is at the end (vmdk-layout not applied)"
[ "$(st server new_sid)" != "$(st desktop new_sid)" ] || fail "two images got the same SID"
if command -v vhdiinfo >/dev/null; then
  vs=$(st server virtual_size)
  vhdiinfo "$tmp/out/server.vhd" | grep -Eq "Media size.*\($vs bytes\)" || fail "vhdiinfo size"
fi
winseal verify --old-sid "$(st server old_sid)" "$tmp/out/server.vhd" > "$tmp/v1" \
  || { cat "$tmp/v1"; fail "verify fails on a batch output"; }
guestfish --ro -a "$tmp/out/server.vhd" -i <<EOS
download /Windows/System32/config/SYSTEM $tmp/server-SYSTEM
download /Users/Administrator/AppData/Local/Microsoft/Windows/UsrClass.dat $tmp/server-UsrClass
EOS
[ "$(hivexget "$tmp/server-SYSTEM" 'ControlSet001\Control\Windows' CSDVersion)" = 256 ] \
  || fail "server: SYSTEM lacks the value only its LOG1 had"
! hivexget "$tmp/server-UsrClass" 'Local Settings\Software\Microsoft\Windows\Shell\Bags\1\Desktop' ItemPos > /dev/null 2>&1 \
  && perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/server-UsrClass" > /dev/null \
  || fail "server: UsrClass.dat is not the repaired one"
[ -z "$(ls -A "$tmp/out" | grep -v -e '^manifest.json$' -e '^server.vhd$' -e '^desktop.vmdk$')" ] \
  || fail "the output directory holds more: $(ls -A "$tmp/out")"

# 3. --resume: the source appears; only the failed images run again.
ln -s "$good1" "$tmp/later.img"
t_server=$(jq '.builds[] | select(.name == "server") | .build_time' "$m")
sum_server=$(sha256sum < "$tmp/out/server.vhd")
sleep 1
set +e
winseal batch "$tmp/cat.json" -o "$tmp/out" -j 2 --resume --no-progress > "$tmp/run2.out" 2> "$tmp/run2.err"
rc=$?
set -e
[ $rc = 6 ] || { cat "$tmp/run2.err"; fail "--resume exits $rc (the corrupt image still fails), not 6"; }
grep -q "2 skipped" "$tmp/run2.err" || { cat "$tmp/run2.err"; fail "--resume did not skip the two done images"; }
[ "$(st missing status)" = succeeded ] || fail "--resume did not redo the once-missing image"
[ "$(jq '.builds[] | select(.name == "server") | .build_time' "$m")" = "$t_server" ] \
  || fail "--resume touched the server entry"
[ "$(sha256sum < "$tmp/out/server.vhd")" = "$sum_server" ] || fail "--resume rewrote server.vhd"

# SIGTERM mid-batch (no output, the manifest says interrupted) is
# test-slurm.sh's scancel, on the same code path.
echo "batch: bad catalog refused (6 problems), 2 of 4 good then 3 of 4 with --resume"
