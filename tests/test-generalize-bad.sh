#!/bin/bash
# winseal generalize refuses bad inputs and bad options with one clear
# line and the documented exit status, and leaves no output file behind.
. "$top_srcdir/tests/functions.sh"

out="$tmp/out"
mkdir -p "$out"
ws=$(image ws2022)

# expect STATUS PATTERN ARGS...: winseal generalize ARGS exits STATUS,
# says PATTERN on stderr, and $out stays empty.
expect () {
  local want=$1 pat=$2; shift 2
  set +e
  winseal generalize --no-progress "$@" > "$tmp/stdout" 2> "$tmp/stderr"
  local st=$?
  set -e
  [ "$st" = "$want" ] || { cat "$tmp/stderr"; fail "generalize $*: exit $st, expected $want"; }
  grep -Eq -e "$pat" "$tmp/stderr" || { cat "$tmp/stderr"; fail "generalize $*: no '$pat' in the message"; }
  [ -z "$(ls -A "$out")" ] || fail "generalize $*: left $(ls -A "$out") behind"
  echo "ok: exit $st: $(grep -E -e "$pat" "$tmp/stderr" | head -n1)"
}

# Options, checked before any appliance starts.
expect 1 "no output given" "$ws"
expect 1 "exclude each other" --in-place "$ws" -o "$out/x.vhd"
expect 1 "not a machine SID" --sid S-1-5-32-544 "$ws" -o "$out/x.vhd"
expect 1 "not a valid computer name" --computer-name 'bad name!' "$ws" -o "$out/x.vhd"
expect 1 "unknown operation" --disable no-such-op "$ws" -o "$out/x.vhd"
expect 1 "unknown output format" --format vdi "$ws" -o "$out/x.vdi"
expect 1 "--vmdk-layout is for VMDK output \(the output is vhd\)" --vmdk-layout header-gd "$ws" -o "$out/x.vhd"
expect 1 "--vmdk-layout: 'diagonal' is not stream or header-gd" --vmdk-layout diagonal "$ws" -o "$out/x.vmdk"
expect 1 "--azure-min-size is for VHD output \(the output is qcow2\)" --azure-min-size "$ws" -o "$out/x.qcow2"
# A differencing VHDX is staged beside a kept overlay: an existing file
# there is refused, before anything is written or launched.
qemu-img create -q -f vhdx "$tmp/xp.vhdx" 16M
qemu-img convert -f vhdx -O raw "$tmp/xp.vhdx" "$tmp/xp.raw"
perl "$top_srcdir/tests/vhdx-diff.pl" --rel xp.vhdx "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xc.vhdx" "$tmp/xc.ref"
echo keep > "$tmp/kept.qcow2.input.qcow2"
expect 1 "--keep-overlay: .*kept.qcow2.input.qcow2 \(the staged copy of the input kept beside it\) exists" \
  --keep-overlay "$tmp/kept.qcow2" "$tmp/xc.vhdx" -o "$out/x.vhd"
[ "$(cat "$tmp/kept.qcow2.input.qcow2")" = keep ] || fail "the existing file beside --keep-overlay was replaced"
expect 1 "cannot write in" "$ws" -o "$tmp/no/such/dir/x.vhd"
expect 1 "is the input image" "$ws" -o "$ws"
printf 'pw\n' > "$tmp/pw"
expect 1 "options that build one do not apply" --unattend "$tmp/pw" --admin-password-file "$tmp/pw" "$ws" -o "$out/x.vhd"

# Invalid answer files.
good='<component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"/>'
printf '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem">%s</settings>' "$good" > "$tmp/u1.xml"
printf '<unattend xmlns="urn:example"><settings pass="oobeSystem">%s</settings></unattend>' "$good" > "$tmp/u2.xml"
printf '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="firstBoot">%s</settings></unattend>' "$good" > "$tmp/u3.xml"
printf '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem"><component name="x" processorArchitecture="amd64"/></settings></unattend>' > "$tmp/u4.xml"
printf '<?xml version="1.0"?>\n<!DOCTYPE unattend [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem">%s</settings>&x;</unattend>' "$good" > "$tmp/u5.xml"
expect 1 "u1.xml:.*not a valid answer file" --unattend "$tmp/u1.xml" "$ws" -o "$out/x.vhd"
expect 1 "u2.xml:.*root element must be 'unattend'" --unattend "$tmp/u2.xml" "$ws" -o "$out/x.vhd"
expect 1 "u3.xml:.*firstBoot" --unattend "$tmp/u3.xml" "$ws" -o "$out/x.vhd"
expect 1 "u4.xml:.*lacks the publicKeyToken" --unattend "$tmp/u4.xml" "$ws" -o "$out/x.vhd"
expect 1 "u5.xml:.*DOCTYPE" --unattend "$tmp/u5.xml" "$ws" -o "$out/x.vhd"
! grep -q "root:" "$tmp/stderr" "$tmp/stdout" || fail "an external entity was loaded"

# Images winseal must not seal (each one appliance launch).
expect 3 "no Windows installation found" "$(image bad-linux)" -o "$out/x.vhd"
expect 4 "BitLocker" "$(image bad-bitlocker)" -o "$out/x.vhd"
expect 5 "hibernat" "$(image bad-hibernated)" -o "$out/x.vhd"
# A clean SYSTEM hive whose root's subkey list points past its bins:
# refused naming the image, the hive and the cell (a dry run: nothing is
# written either way).
expect 1 "bad-broken-system.img: the SYSTEM hive .* is corrupt: a subkey list in .\(the root\) lies outside the hive bins" \
  --dry-run "$(image bad-broken-system)"
# Three hives that cannot be recovered: all named in the one run.
expect 1 "SYSTEM hive .* cannot be recovered from its logs: its base block fails its checksum" \
  "$(image bad-unrecoverable)" -o "$out/x.vhd"
grep -q "SECURITY hive .* cannot be recovered" "$tmp/stderr" || { cat "$tmp/stderr"; fail "SECURITY was not named in the same run"; }
grep -q "UsrClass.dat of Administrator hive .* cannot be recovered from its logs: .*a value's data in .Local Settings.Software.Microsoft.Windows.Shell.Bags.1.Desktop lies in the missing hive bins (--repair-hives drops what lies there)" "$tmp/stderr" \
  || { cat "$tmp/stderr"; fail "the cut UsrClass.dat was not named, with --repair-hives, in the same run"; }
if [ -f "$FIXTURES_DIR/bad-corrupt-hive.img" ]; then
  expect 1 "SAM hive .* is corrupt" "$(image bad-corrupt-hive)" -o "$out/x.vhd"
fi
expect 2 "" "$(image bad-truncated)" -o "$out/x.vhd"
# Windows that must not be generalized offline (exit 7): a domain
# member, a domain controller, Windows Server 2003.  The input stays as
# it was.
for b in bad-domain bad-dc bad-xp; do sha256sum < "$(image $b)" > "$tmp/$b.sum"; done
expect 7 "bad-domain.img: Windows is joined to the domain CORP \(S-1-5-21-1004336348-1177238915-682003330, with a \\\$MACHINE.ACC secret\); Sysprep unjoins" \
  "$(image bad-domain)" -o "$out/x.vhd"
expect 7 "bad-dc.img: Windows is a domain controller \(its ProductType is LanmanNT\)" "$(image bad-dc)" -o "$out/x.vhd"
expect 7 "bad-xp.img: Windows 5.2 \(Microsoft Windows Server 2003\) is older than Windows Vista / Server 2008" "$(image bad-xp)" -o "$out/x.vhd"
for b in bad-domain bad-dc bad-xp; do
  cmp -s "$tmp/$b.sum" <(sha256sum < "$(image $b)") || fail "$b: the input changed"
done
