#!/bin/bash
# The command line: --help, --version, per-command help, and one-line
# errors with exit status 1 for unknown options and commands.
. "$top_srcdir/tests/functions.sh"

winseal --help > "$tmp/help"
grep -q '^Usage: winseal' "$tmp/help" || fail "--help has no usage line"
grep -q 'inspect' "$tmp/help" || fail "--help does not list inspect"

winseal --version > "$tmp/version"
grep -Eq '^winseal [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/version" || fail "--version: $(cat "$tmp/version")"

winseal inspect --help > "$tmp/ihelp"
grep -q '^Usage: winseal inspect' "$tmp/ihelp" || fail "inspect --help"
grep -q -- '--json' "$tmp/ihelp" || fail "inspect --help does not mention --json"

winseal convert --help > "$tmp/chelp"
grep -q '^Usage: winseal convert' "$tmp/chelp" || fail "convert --help"
grep -q 'convert' "$tmp/help" || fail "--help does not list convert"

winseal build --help > "$tmp/bhelp"
grep -q '^Usage: winseal build' "$tmp/bhelp" || fail "build --help"

# Every option in --help appears in the manual page too.
for opt in $(cat "$tmp/ihelp" "$tmp/chelp" "$tmp/bhelp" | grep -o -- '--[a-z-]*' | sort -u); do
  grep -q -- "$opt" "$top_srcdir/man/winseal.pod" || fail "man page lacks $opt"
done

check_usage_error () {
  local status=0
  winseal "$@" > "$tmp/out" 2> "$tmp/err" || status=$?
  [ $status -eq 1 ] || fail "winseal $*: exit $status, expected 1"
  [ ! -s "$tmp/out" ] || fail "winseal $*: printed on stdout"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "winseal $*: not one line: $(cat "$tmp/err")"
  grep -q '^winseal: ' "$tmp/err" || fail "winseal $*: no 'winseal:' prefix"
}
check_usage_error
check_usage_error --no-such-option
check_usage_error frobnicate
check_usage_error inspect
check_usage_error inspect --no-such-option x.img
check_usage_error inspect a.img b.img
check_usage_error inspect --input-format
check_usage_error inspect --input-format bogus "$top_srcdir/README.md"

check_usage_error convert
check_usage_error convert a.raw
check_usage_error convert a.raw b.unknown-extension
check_usage_error convert --format vhdx a.raw b.vhd
check_usage_error convert --size lots a.raw b.vhd
check_usage_error convert --threads 0 a.raw b.vmdk
check_usage_error convert -c a.raw b.vhd
check_usage_error convert a.raw b.vhd c.vhd

check_usage_error build
# Cloud targets: an unknown one, and what Azure cannot take (a format
# other than a fixed VHD, an answer file of winseal's).
check_target_error () {
  local want=$1; shift
  status=0
  winseal "$@" > "$tmp/out" 2> "$tmp/err" || status=$?
  [ $status -eq 1 ] || fail "winseal $*: exit $status, not 1"
  [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q -- "$want" "$tmp/err" \
    || fail "winseal $*: the error is not one line saying '$want': $(cat "$tmp/err")"
}
check_target_error "'mars' is not one of generic, azure, aws, openstack" generalize --target mars a.img -o b.vhd
check_target_error "'mars' is not one of generic, azure, aws, openstack" verify --target mars a.img
check_target_error "takes a fixed VHD (the output is qcow2)" generalize --target azure a.img -o b.qcow2
check_target_error "takes a fixed VHD (the output is vhd-dynamic)" generalize --target azure --format vhd-dynamic a.img -o b.vhd
check_target_error "writes no answer file" generalize --target azure --timezone UTC a.img -o b.vhd
check_target_error "writes no answer file" clone --target azure --unattend x.xml -n 2 a.img -o 'c%d.vhd'
check_usage_error build a.json b.json
check_usage_error build --format vmdk a.json
check_usage_error build --in-place a.json
check_usage_error build -o "$tmp/no-such-dir" a.json

# A missing file is an error before any appliance starts.
status=0
winseal inspect "$tmp/does-not-exist.img" 2> "$tmp/err" || status=$?
[ $status -eq 1 ] || fail "missing image: exit $status"
grep -q 'does-not-exist.img' "$tmp/err" || fail "missing image: message does not name it"
exit 0
