#!/bin/bash
# The path policy and hostile host inputs, without the appliance: an
# output never replaces an input (or a file of its backing chain, the
# manifest, another output); catalog keys are option names exactly; batch
# outputs stay in DIR and a refused catalog creates nothing; backing files
# and template files outside the input's folder, FIFOs, devices and procfs
# files are refused at once with one line; password files are checked
# (NUL, UTF-8, 127 characters counted as characters); duplicate JSON keys;
# an empty input; a 250-byte output name.  Each case failed before the
# path policy existed.
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img
requires command -v jq
requires command -v xmllint

cd "$tmp"
sum () { sha256sum < "$1" | cut -c1-64; }

# expect_fail RC TEXT CMD...: CMD exits RC (within 20 s: nothing may
# block), prints TEXT, and prints exactly one line unless told otherwise.
expect_fail () {
  local want_rc=$1 text=$2; shift 2
  set +e
  timeout 20 "$@" > out.txt 2> err.txt
  local rc=$?
  set -e
  [ $rc != 124 ] || fail "$*: hung (killed after 20 s)"
  [ $rc = "$want_rc" ] || { cat err.txt; fail "$*: exit $rc, not $want_rc"; }
  grep -qF -- "$text" err.txt || { cat err.txt; fail "$*: no '$text' in: $(cat err.txt)"; }
  [ "${ONE_LINE:-1}" = 0 ] || [ "$(wc -l < err.txt)" = 1 ] \
    || { cat err.txt; fail "$*: more than one line"; }
}

# A small disk with a partition table: passes winseal's own checks.
truncate -s 20M disk.img
echo 'type=7' | sfdisk -q disk.img
disk_sum=$(sum disk.img)

# ---- 1. generalize: --keep-overlay over the input, over an existing file ----
expect_fail 1 "--keep-overlay disk.img: is the input image" \
  "$WINSEAL" generalize --keep-overlay disk.img disk.img -o x.vhd
[ "$(sum disk.img)" = "$disk_sum" ] || fail "--keep-overlay destroyed the input"
ln -s disk.img link.img
expect_fail 1 "--keep-overlay ./../${tmp##*/}/link.img: is the input image" \
  "$WINSEAL" generalize --keep-overlay "./../${tmp##*/}/link.img" disk.img -o x.vhd
echo precious > kept.qcow2
expect_fail 1 "--keep-overlay kept.qcow2: the file exists; refused (--force replaces a file)" \
  "$WINSEAL" generalize --keep-overlay kept.qcow2 disk.img -o x.vhd
[ "$(cat kept.qcow2)" = precious ] || fail "--keep-overlay replaced an existing file"
expect_fail 1 "-o disk.img: is the input image" "$WINSEAL" generalize disk.img -o disk.img
expect_fail 1 "is another output of this run" \
  "$WINSEAL" generalize --keep-overlay same.vhd disk.img -o same.vhd
[ ! -e x.vhd ] && [ ! -e same.vhd ] || fail "a refused generalize wrote an output"

# ---- 2. convert: onto its input or a file of its chain ----
expect_fail 1 "OUTPUT disk.img: is the input image" "$WINSEAL" convert disk.img disk.img
expect_fail 1 "OUTPUT link.img: is the input image" "$WINSEAL" convert disk.img link.img
qemu-img create -q -f qcow2 -b disk.img -F raw top.qcow2
expect_fail 1 "OUTPUT disk.img: is a backing file of the input image" \
  "$WINSEAL" convert top.qcow2 disk.img
[ "$(sum disk.img)" = "$disk_sum" ] || fail "convert replaced its input"

# ---- 3. backing files and extents outside the input's folder ----
qemu-img create -q -f qcow2 -b /etc/shadow -F raw shadow.qcow2
expect_fail 1 "backing file /etc/shadow is outside $tmp (the input's directory)" \
  "$WINSEAL" convert shadow.qcow2 shadow.vhd
[ ! -e shadow.vhd ] || fail "a refused backing file gave an output"
mkdir -p other
cp disk.img other/base.img
qemu-img create -q -f qcow2 -b "$tmp/other/base.img" -F raw sub.qcow2
mkdir -p sub && mv sub.qcow2 sub/
expect_fail 1 "is outside $tmp/sub" "$WINSEAL" convert sub/sub.qcow2 sub.vhd
"$WINSEAL" convert --allow-dir other sub/sub.qcow2 sub.vhd 2> err.txt \
  || { cat err.txt; fail "--allow-dir did not allow the backing file"; }
qemu-img compare -q -f vpc -F raw sub.vhd disk.img || fail "sub.vhd does not hold the backing file's data"
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 8 FLAT "/etc/shadow" 0\n' > flat.vmdk
expect_fail 1 "extent /etc/shadow is outside" "$WINSEAL" convert flat.vmdk flat.vhd
mkfifo fifo.img
qemu-img create -q -f qcow2 -u -b fifo.img -F raw fifo-top.qcow2 20M   # -u: qemu-img would block
expect_fail 1 "fifo.img: is a FIFO, not a regular file" "$WINSEAL" convert fifo-top.qcow2 f.vhd

# ---- 4. FIFOs, devices and procfs files as inputs: refused without blocking ----
mkfifo fifo.txt fifo.json
expect_fail 1 "fifo.img: is a FIFO" "$WINSEAL" convert fifo.img f.vhd
expect_fail 1 "fifo.img: is a FIFO" "$WINSEAL" generalize fifo.img -o f.vhd
expect_fail 1 "fifo.img: is a FIFO" "$WINSEAL" inspect fifo.img
expect_fail 1 "fifo.img: is a FIFO" "$WINSEAL" verify fifo.img
expect_fail 1 "/dev/zero: is a character device" "$WINSEAL" convert /dev/zero f.vhd
expect_fail 1 "fifo.txt: is a FIFO" "$WINSEAL" generalize --unattend fifo.txt disk.img -o f.vhd
expect_fail 1 "fifo.txt: is a FIFO" "$WINSEAL" unattend --check fifo.txt
expect_fail 1 "--setupcomplete fifo.txt: is a FIFO" "$WINSEAL" generalize --setupcomplete fifo.txt disk.img -o f.vhd
expect_fail 1 "--admin-password-file fifo.txt: is a FIFO" "$WINSEAL" unattend --admin-password-file fifo.txt
expect_fail 1 "--admin-password-file /dev/zero: is a character device" "$WINSEAL" unattend --admin-password-file /dev/zero
expect_fail 1 "/proc/self/environ: is a file of a kernel pseudo file system" \
  "$WINSEAL" unattend --admin-password-file /proc/self/environ
ONE_LINE=0 expect_fail 1 "fifo.json: is a FIFO" "$WINSEAL" batch fifo.json -o bo
ONE_LINE=0 expect_fail 1 "/dev/zero: is a character device" "$WINSEAL" batch /dev/zero -o bo
ONE_LINE=0 expect_fail 1 "fifo.json: is a FIFO" "$WINSEAL" build fifo.json -o .
ONE_LINE=0 expect_fail 1 "/dev/zero: is a character device" "$WINSEAL" build /dev/zero -o .
[ ! -e f.vhd ] && [ ! -e bo ] || fail "a refused input left an output"

# ---- 5. password files ----
printf 'abc\0def\n' > pw-nul.txt
expect_fail 1 "pw-nul.txt: holds a NUL byte" "$WINSEAL" unattend --admin-password-file pw-nul.txt
printf 'abc\xff\xfedef\n' > pw-bad.txt
expect_fail 1 "pw-bad.txt: the password is not valid UTF-8" "$WINSEAL" unattend --admin-password-file pw-bad.txt
printf '\xc0\xafoverlong\n' > pw-overlong.txt
expect_fail 1 "not valid UTF-8" "$WINSEAL" unattend --admin-password-file pw-overlong.txt
head -c 8192 /dev/urandom | base64 > pw-big.txt
expect_fail 1 "pw-big.txt: is larger than 4096 bytes" "$WINSEAL" unattend --admin-password-file pw-big.txt
# 64 non-ASCII characters (128 bytes) are a valid password; 128 are not.
pw64=$(printf 'é%.0s' $(seq 64))
printf '%s\n' "$pw64" > pw64.txt
"$WINSEAL" unattend --admin-password-file pw64.txt > ua.xml 2> err.txt \
  || { cat err.txt; fail "a 64-character non-ASCII password was refused"; }
hidden=$(xmllint --xpath "string(//*[local-name()='AdministratorPassword']/*[local-name()='Value'])" ua.xml)
[ "$(printf '%s' "$hidden" | base64 -d | iconv -f UTF-16LE -t UTF-8)" = "${pw64}AdministratorPassword" ] \
  || fail "the hidden password does not decode to the 64 characters"
! grep -q "$pw64" ua.xml || fail "the password is in the answer file in clear"
printf '%s\n' "$pw64$pw64" > pw128.txt
expect_fail 1 "1 to 127 characters" "$WINSEAL" unattend --admin-password-file pw128.txt

# ---- 6. batch catalogs: exact keys, outputs in DIR, duplicates, no DIR when refused ----
cat > cat.json <<EOF
{ "images": [
  { "name": "a", "source": "disk.img", "keep-overla": "disk.img" },
  { "name": "b", "source": "disk.img", "dry-ru": true },
  { "name": "c", "source": "disk.img", "output": "/etc/passwd" },
  { "name": "d", "source": "disk.img", "output": "manifest.json" },
  { "name": "dup", "source": "disk.img" },
  { "name": "e", "source": "disk.img", "output": "./dup.vhd" },
  { "name": "f", "source": "disk.img", "output": "../escape.vhd" },
  { "name": "g", "source": "disk.img", "allow-dir": "/" } ] }
EOF
ONE_LINE=0 expect_fail 1 "7 problems in the catalog; nothing was done" "$WINSEAL" batch cat.json -o bo
for want in "image \"a\": unknown option '--keep-overla'" "image \"b\": unknown option '--dry-ru'" \
            "image \"c\": \"output\" must be a file name in the output directory" \
            "image \"d\": \"output\" $tmp/bo/manifest.json: is the manifest" \
            "image \"e\": \"output\" $tmp/bo/dup.vhd: is another output of this run" \
            "image \"f\": \"output\" must be a file name" \
            "image \"g\": \"allow-dir\" is set by winseal batch itself"; do
  grep -qF -- "$want" err.txt || { cat err.txt; fail "catalog: not reported: $want"; }
done
[ ! -e bo ] || fail "a refused catalog created the output directory"
[ "$(sum disk.img)" = "$disk_sum" ] || fail "a refused catalog changed a source"
# Host files named by a catalog: relative to it, and only from its folder.
echo '{ "images": [ { "name": "x", "source": "disk.img", "setupcomplete": "/etc/shadow",
  "admin-password-file": "../pw.txt" } ] }' > cat3.json
ONE_LINE=0 expect_fail 1 "2 problems in the catalog" "$WINSEAL" batch cat3.json -o bo
grep -qF 'image "x": "setupcomplete": /etc/shadow: is outside' err.txt \
  && grep -qF 'image "x": "admin-password-file": '"$tmp"'/../pw.txt: ' err.txt \
  || { cat err.txt; fail "catalog host files outside its folder were not refused"; }
mkdir -p bo2 && cp disk.img bo2/src.img
echo '{ "images": [ { "name": "x", "source": "bo2/src.img", "output": "src.img" } ] }' > cat2.json
ONE_LINE=0 expect_fail 1 "\"output\" $tmp/bo2/src.img: is images[0]'s source" "$WINSEAL" batch cat2.json -o bo2
printf '{ "images": [ { "name": "x", "source": "disk.img", "timezone": "UTC",\n "timezone": "X" } ] }\n' > dup.json
expect_fail 1 "dup.json: line 2: the key \"timezone\" appears twice in one object" "$WINSEAL" batch dup.json -o bo
printf '{ "images": [ { "name": "x", "source": "disk.img", "tim\\u0065zone": "UTC", "timezone": "X" } ] }\n' > dup2.json
expect_fail 1 "the key \"timezone\" appears twice" "$WINSEAL" batch dup2.json -o bo
[ ! -e bo ] || fail "a refused catalog created the output directory"

# ---- 7. build templates: files outside the template's folder ----
mkdir -p tpl
tpl () {
  jq -n --arg src "$1" --argjson c "$2" '{ type: "Microsoft.VirtualMachineImages/imageTemplates",
    properties: { source: { type: "LocalImage", path: $src }, customize: $c,
                  distribute: [ { type: "VHD", runOutputName: "o" } ] } }' > tpl/t.json
}
cp disk.img tpl/disk.img
tpl disk.img '[{"type": "File", "name": "s", "sourceUri": "file:///etc/shadow", "destination": "C:\\s"},
               {"type": "File", "name": "e", "sourceUri": "/proc/self/environ", "destination": "C:\\e"},
               {"type": "Shell", "name": "c", "scriptUri": "../cat.json"}]'
ONE_LINE=0 expect_fail 1 "3 problems in the template" "$WINSEAL" build "$tmp/tpl/t.json" -o .
for want in "customize[0].sourceUri: /etc/shadow: is outside $tmp/tpl" \
            "customize[1].sourceUri: /proc/self/environ: is outside $tmp/tpl" \
            "customize[2].scriptUri: $tmp/tpl/../cat.json: is outside $tmp/tpl"; do
  grep -qF -- "$want" err.txt || { cat err.txt; fail "template: not reported: $want"; }
done
ONE_LINE=0 expect_fail 1 "/proc/self/environ: is a file of a kernel pseudo file system" \
  "$WINSEAL" build --allow-dir /proc "$tmp/tpl/t.json" -o .
tpl "$tmp/disk.img" '[]'
ONE_LINE=0 expect_fail 1 "properties.source.path: $tmp/disk.img: is outside $tmp/tpl" "$WINSEAL" build "$tmp/tpl/t.json" -o .
printf '{ "type": "x", "type": "y" }\n' > tpl/dup.json
expect_fail 1 "the key \"type\" appears twice" "$WINSEAL" build tpl/dup.json -o .
[ ! -e o.vhd ] || fail "a refused template wrote an output"

# ---- 8. smaller: an empty input, a long output name ----
: > empty.img
expect_fail 2 "empty.img: the image is empty" "$WINSEAL" convert empty.img empty.vhd
[ ! -e empty.vhd ] || fail "an empty input gave an output"
long=$(printf 'x%.0s' $(seq 250)).vhd
"$WINSEAL" convert disk.img "$long" 2> err.txt || { cat err.txt; fail "a 254-byte output name failed"; }
qemu-img compare -q -f vpc -F raw "$long" disk.img || fail "the long-named output differs"

# ---- 9. stale temporary outputs of killed runs are removed by the next ----
touch -d '1 hour ago' .winseal-tmp-AAAAAA
: > .winseal-tmp-BBBBBB             # empty and new: may be a run starting
head -c 4096 /dev/zero > .winseal-tmp-CCCCCC
exec 8< .winseal-tmp-CCCCCC
flock -x 8                          # locked: a run in progress
head -c 4096 /dev/zero > .winseal-tmp-DDDDDD
"$WINSEAL" convert disk.img clean.vhd
[ ! -e .winseal-tmp-AAAAAA ] && [ ! -e .winseal-tmp-DDDDDD ] || fail "stale temporary outputs were kept"
[ -e .winseal-tmp-BBBBBB ] && [ -e .winseal-tmp-CCCCCC ] || fail "a run's own temporary output was removed"
exec 8<&-
mkdir -p td
mkdir td/winseal-99999-AbCdEf && : > td/winseal-99999-AbCdEf/.lock && echo secret > td/winseal-99999-AbCdEf/hive0
mkdir td/winseal-test.keep
# (a template refused after winseal made its temporary directory)
TMPDIR=$tmp/td "$WINSEAL" build "$tmp/tpl/t.json" -o . > /dev/null 2>&1 || true
[ ! -e td/winseal-99999-AbCdEf ] || fail "a killed run's private directory was kept"
[ -d td/winseal-test.keep ] || fail "a directory that is not winseal's was removed"

echo "safety: outputs off inputs, exact catalog keys, confined backing and template files, FIFOs/devices/procfs refused, password files, duplicate keys, empty input, long names, stale temporaries"
