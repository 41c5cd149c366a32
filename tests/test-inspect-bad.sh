#!/bin/bash
# Bad inputs get one clear line on stderr and their documented exit code:
# 2 unreadable (truncated, empty), 3 not Windows, 4 encrypted,
# 5 hibernated.  A dirty hive is reported, not refused, by inspect.
. "$top_srcdir/tests/functions.sh"
requires command -v jq

expect () {
  local code=$1 pattern=$2; shift 2
  local status=0
  winseal inspect "$@" > "$tmp/out" 2> "$tmp/err" || status=$?
  [ $status -eq "$code" ] || fail "inspect $*: exit $status, expected $code: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "inspect $*: not one line:
$(cat "$tmp/err")"
  grep -Eq "^winseal: .*$pattern" "$tmp/err" || fail "inspect $*: '$(cat "$tmp/err")' lacks /$pattern/"
  [ ! -s "$tmp/out" ] || fail "inspect $*: printed a report"
  echo "ok: $(cat "$tmp/err")"
}

# Decided on the host, before any appliance starts.
expect 2 'truncated' "$(image bad-truncated)"
: > "$tmp/empty.img"
expect 2 'empty file' "$tmp/empty.img"
head -c 100 /dev/zero > "$tmp/tiny.img"
expect 2 'too small' "$tmp/tiny.img"

# Decided in the appliance.
expect 3 'no Windows installation found \(found linux' "$(image bad-linux)"
expect 4 'BitLocker' "$(image bad-bitlocker)"
expect 5 'hibernated' "$(image bad-hibernated)"
# A clean SYSTEM hive whose root's subkey list points past its bins (what
# libhivex fails on): one line of winseal's, naming the hive and the cell,
# not libguestfs's "unhandled exception", and no report read in part.
expect 2 'the SYSTEM hive .* is corrupt: a subkey list in .\(the root\) lies outside the hive bins' "$(image bad-broken-system)"
! grep -q 'exception' "$tmp/err" || fail "bad-broken-system: libguestfs's exception text"

# A dirty SYSTEM hive whose log holds data: reported as dirty, with a warning.
inspect_json bad-dirty > "$tmp/dirty.json"
[ "$(jq -r '.hives[] | select(.name == "SYSTEM") | .state' "$tmp/dirty.json")" = dirty ] \
  || fail "bad-dirty: SYSTEM not reported dirty"
[ "$(jq -r '.hives[] | select(.name == "SYSTEM") | .log_bytes > 512' "$tmp/dirty.json")" = true ] \
  || fail "bad-dirty: SYSTEM log size not reported"
jq -r '.warnings[]' "$tmp/dirty.json" | grep -q 'SYSTEM hive .* is dirty' \
  || fail "bad-dirty: no warning about the dirty hive"
[ "$(jq -r '[.hives[] | select(.state == "dirty") | .name] | sort | join(",")' "$tmp/dirty.json")" = "DEFAULT,NTUSER.DAT (Administrator),SOFTWARE,SYSTEM,UsrClass.dat (Administrator)" ] \
  || fail "bad-dirty: not SYSTEM, SOFTWARE, DEFAULT and Administrator's two hives dirty: $(jq -c '[.hives[] | {name, state}]' "$tmp/dirty.json")"
[ "$(jq -r '[.hives[] | select(.state == "dirty") | .recovery | select(.state == "recovered" and .entries == 1)] | length' "$tmp/dirty.json")" = 3 ] \
  || fail "bad-dirty: not the three hives with a LOG1 recoverable from it"
# DEFAULT's missing bins hold nothing reachable: trimmed.  UsrClass.dat's
# hold a value's data: unrecoverable, but --repair-hives would drop it.
[ "$(jq -r '.hives[] | select(.name == "DEFAULT") | .recovery | "\(.state) \(.trimmed_from) \(.bins_size)"' "$tmp/dirty.json")" = "trimmed 16384 8192" ] \
  || fail "bad-dirty: DEFAULT not trimmable: $(jq -c '.hives[] | select(.name == "DEFAULT") | .recovery' "$tmp/dirty.json")"
uc='.hives[] | select(.name == "UsrClass.dat (Administrator)") | .recovery'
[ "$(jq -r "$uc | \"\(.state) \(.repairable)\"" "$tmp/dirty.json")" = "unrecoverable true" ] \
  && jq -r "$uc | .error" "$tmp/dirty.json" | grep -q 'value.s data in .Local Settings.Software.Microsoft.Windows.Shell.Bags.1.Desktop lies in the missing hive bins' \
  || fail "bad-dirty: UsrClass.dat: $(jq -c "$uc" "$tmp/dirty.json")"
jq -r '.warnings[]' "$tmp/dirty.json" | grep -q 'UsrClass.dat (Administrator) hive .* cannot be recovered .*--repair-hives' \
  || fail "bad-dirty: no warning naming UsrClass.dat and --repair-hives"
# What replaying its logs gives (what Windows would read): LOG1's entry.
[ "$(jq -r '.hives[] | select(.name == "SYSTEM") | .recovery | "\(.state) \(.entries) \([.logs[] | select(.applied) | .log] | join(","))"' "$tmp/dirty.json")" = "recovered 1 SYSTEM.LOG1" ] \
  || fail "bad-dirty: the recovery is not reported: $(jq -c '.hives[] | select(.name == "SYSTEM") | .recovery' "$tmp/dirty.json")"
echo "ok: bad-dirty reported"
