#!/bin/bash
# winseal hive check / recover on real dirty hives (../shared/hives-dirty,
# from yarp's test corpus, with what Windows itself recovered from them,
# and ../shared/hives/SYSTEM_B with its logs), without an appliance.
# Oracles: Windows' own recovered hives (byte for byte, or through
# libregf's regfexport), regfexport and hivexget reading the result.
. "$top_srcdir/tests/functions.sh"
requires command -v regfexport
requires command -v hivexget
dirty=$top_srcdir/../shared/hives-dirty
[ -d "$dirty" ] || fail "no $dirty (the shared test hives)"
hives=${SHARED_HIVES:-$top_srcdir/../shared/hives}
d=$tmp/h
mkdir -p "$d"
for f in $(cd "$dirty" && find . -name '*.xz'); do
  mkdir -p "$d/$(dirname "$f")"
  xz -dc "$dirty/$f" > "$d/${f%.xz}"
done
for f in SYSTEM SYSTEM_B SYSTEM_B.LOG1 SYSTEM_B.LOG2 corrupted_system_hive; do
  xz -dc "$hives/$f.xz" > "$d/$f"
done
sums=$(cd "$d" && find . -type f | sort | xargs sha256sum)
# bins FILE: its hive bins data (the base block's size field says how much).
bins () {
  local n; n=$(od -An -tu4 -j40 -N4 "$1" | tr -d ' ')
  dd if="$1" bs=4096 skip=1 count=$((n / 4096)) status=none
}
js () { jq -r "$2" "$1"; }

# New-format logs (Windows 8.1+): the hive bins are Windows 10's, byte for byte.
h=$d/NewDirtyHive1
winseal hive recover "$h/NewDirtyHive" -o "$tmp/n1" --json > "$tmp/n1.json" || fail "NewDirtyHive1: recover failed"
cmp -s <(bins "$tmp/n1") <(bins "$h/RecoveredHive_Windows10") \
  || fail "NewDirtyHive1: the hive bins differ from what Windows 10 recovered"
[ "$(js "$tmp/n1.json" .entries)" = 4 ] && [ "$(js "$tmp/n1.json" .sequence)" = 5 ] \
  || fail "NewDirtyHive1: $(cat "$tmp/n1.json")"
[ "$(js "$tmp/n1.json" '[.logs[] | .entries] | join(",")')" = "1,3" ] || fail "NewDirtyHive1: entries per log"
# The logs in the other order: the same hive.
winseal hive recover --log "$h/NewDirtyHive.LOG2" --log "$h/NewDirtyHive.LOG1" "$h/NewDirtyHive" \
  -o "$tmp/n1r" > /dev/null || fail "NewDirtyHive1, logs reversed: recover failed"
cmp -s "$tmp/n1" "$tmp/n1r" || fail "NewDirtyHive1: the order of the logs changed the result"
regfexport "$tmp/n1" > "$tmp/n1.txt" 2>&1 || fail "regfexport cannot read the recovered NewDirtyHive1"
# A stale LOG1 (its entry is already in the hive): only LOG2 applies.
winseal hive check --json "$d/NewDirtyHive2/NewDirtyHive" > "$tmp/n2.json" || fail "NewDirtyHive2: check failed"
[ "$(js "$tmp/n2.json" '[.logs[] | .applied] | join(",")')" = "false,true" ] \
  && [ "$(js "$tmp/n2.json" .sequence)" = 5 ] && grep -q stale "$tmp/n2.json" \
  || fail "NewDirtyHive2: $(cat "$tmp/n2.json")"

# The old format (Windows XP to 8): what Windows 7 recovered, as libregf
# reads it.  (The bytes differ only where Windows wrote after loading the
# hive: the first bin's timestamp and one key's cached name length.)
winseal hive recover "$d/OldDirtyHive/OldDirtyHive" -o "$tmp/old" > /dev/null || fail "OldDirtyHive: recover failed"
regfexport "$tmp/old" > "$tmp/old.txt" 2>&1 && regfexport "$d/OldDirtyHive/RecoveredHive_Windows7" > "$tmp/w7.txt" 2>&1 \
  || fail "regfexport cannot read the recovered OldDirtyHive"
cmp -s "$tmp/old.txt" "$tmp/w7.txt" || fail "OldDirtyHive: not what Windows 7 recovered: $(diff "$tmp/old.txt" "$tmp/w7.txt" | head -5)"
n=$(cmp -l <(bins "$tmp/old") <(bins "$d/OldDirtyHive/RecoveredHive_Windows7") | wc -l)
[ "$n" -le 8 ] || fail "OldDirtyHive: $n bytes of the hive bins differ from Windows 7's"
hivexget "$tmp/old" 'key_with_many_subkeys\5000\find_me_in_log' > /dev/null 2>&1 \
  || fail "OldDirtyHive: the key only the log had is not there"
# A base block that fails its checksum: taken from the log.
winseal hive recover --json "$d/BadBaseBlockHive/BadBaseBlockHive" -o "$tmp/bb" > "$tmp/bb.json" \
  || fail "BadBaseBlockHive: recover failed"
[ "$(js "$tmp/bb.json" .base_block_from_log)" = true ] || fail "BadBaseBlockHive: $(cat "$tmp/bb.json")"
regfexport "$tmp/bb" > "$tmp/bb.txt" 2>&1 && cmp -s "$tmp/bb.txt" "$tmp/w7.txt" \
  || fail "BadBaseBlockHive: not what Windows 7 recovered"

# Logs that must not be used: a log whose base block fails its checksum
# (BadLogHive1, and BadLogHive3's two new-format logs, whose entries are
# sound), a dirty vector that is not one (BadLogHive2).
for c in BadLogHive1 BadLogHive2 BadLogHive3; do
  winseal hive check --json "$d/$c/BadLogHive" > "$tmp/$c.json" || fail "$c: check failed"
  [ "$(js "$tmp/$c.json" '[.logs[] | select(.applied)] | length')" = 0 ] \
    && [ "$(js "$tmp/$c.json" .state)" = "dirty, nothing to replay" ] \
    || fail "$c: a bad log was used: $(cat "$tmp/$c.json")"
done
grep -q '"no dirty vector' "$tmp/BadLogHive2.json" || fail "BadLogHive2: the reason is not said"

# Cut short, no log: refused in one line naming the hive.
set +e
winseal hive check "$d/TruncatedDirtyHive" > "$tmp/t.out" 2> "$tmp/t.err"; rc=$?
set -e
[ $rc = 1 ] && [ "$(wc -l < "$tmp/t.err")" = 1 ] \
  && grep -q "TruncatedDirtyHive: cannot be recovered: .* in .key_with_many_subkeys lies in the missing hive bins" "$tmp/t.err" \
  || fail "TruncatedDirtyHive: exit $rc, $(cat "$tmp/t.err")"
# ... and with --repair-hives: key_with_many_subkeys keeps no subkey (its
# subkey list's parts lay in the missing bins), the hive is consistent.
winseal hive recover --repair-hives --json "$d/TruncatedDirtyHive" -o "$tmp/tr" > "$tmp/tr.json" \
  || fail "TruncatedDirtyHive --repair-hives: recover failed"
[ "$(js "$tmp/tr.json" .state)" = repaired ] && js "$tmp/tr.json" '.dropped[0]' | grep -q '^.key_with_many_subkeys: its subkeys in one part' \
  || fail "TruncatedDirtyHive --repair-hives: $(head -c 400 "$tmp/tr.json")"
perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/tr" > "$tmp/tr.cons" && grep -q '^2 keys, 1 security keys$' "$tmp/tr.cons" \
  || fail "TruncatedDirtyHive repaired: $(cat "$tmp/tr.cons")"
regfexport "$tmp/tr" > /dev/null 2> "$tmp/tr.err" && [ ! -s "$tmp/tr.err" ] || fail "regfexport: $(head -c 200 "$tmp/tr.err")"
# Incomplete hives without logs, made from SYSTEM (clean): 8 KiB of zeros
# past its bins that its base block counts in (nothing reachable there:
# cut, losslessly), and the same hive cut at half (keys lost: refused,
# naming one).
perl -e '
  open my $f, "<:raw", $ARGV[0] or die; local $/; my $h = <$f>;
  my $bins = unpack "V", substr $h, 40, 4;
  sub fix { my $b = shift; my $x = 0; $x ^= unpack "V", substr $$b, 4 * $_, 4 for 0 .. 126;
            $x = 1 if $x == 0; $x = 0xFFFFFFFE if $x == 0xFFFFFFFF; substr $$b, 508, 4, pack "V", $x }
  my $g = substr ($h, 0, 4096 + $bins) . ("\0" x 8192);
  substr $g, 40, 4, pack "V", $bins + 8192;
  substr $g, 4, 4, pack "V", 1 + unpack "V", substr $g, 8, 4;
  fix (\$g);
  open my $o, ">:raw", $ARGV[1] or die; print $o $g; close $o;
  my $c = substr $h, 0, 4096 + int ($bins / 2 / 4096) * 4096;
  substr $c, 4, 4, pack "V", 1 + unpack "V", substr $c, 8, 4;
  fix (\$c);
  open $o, ">:raw", $ARGV[2] or die; print $o $c; close $o;
' "$d/SYSTEM" "$tmp/incomplete" "$tmp/cut"
winseal hive recover --json "$tmp/incomplete" -o "$tmp/inc" > "$tmp/inc.json" || fail "an incomplete hive: recover failed"
[ "$(js "$tmp/inc.json" .state)" = trimmed ] || fail "an incomplete hive: $(cat "$tmp/inc.json")"
cmp -s <(bins "$tmp/inc") <(bins "$d/SYSTEM") || fail "an incomplete hive: the bins kept are not SYSTEM's"
regfexport "$tmp/inc" > "$tmp/inc.txt" 2>&1 && regfexport "$d/SYSTEM" > "$tmp/sys.txt" 2>&1 \
  && cmp -s "$tmp/inc.txt" "$tmp/sys.txt" || fail "an incomplete hive: not the registry SYSTEM holds"
set +e
winseal hive check "$tmp/cut" > /dev/null 2> "$tmp/cut.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'cut: cannot be recovered: .* in .ControlSet00[12].* lies in the missing hive bins' "$tmp/cut.err" \
  || fail "a hive cut at half: exit $rc, $(cat "$tmp/cut.err")"

# --repair-hives: the hive cut at half loses what lay in its second half,
# and only that.  Oracles: regfexport reads the result, every key and
# value it holds is SYSTEM's, exactly as SYSTEM has it, and everything of
# SYSTEM it lacks lies under something the dropped list names;
# tests/hive-consistency.pl checks subkey counts and the security keys'
# ring and reference counts.
grep -q -- '--repair-hives drops what lies there' "$tmp/cut.err" || fail "the refusal does not name --repair-hives"
winseal hive recover --repair-hives --json "$tmp/cut" -o "$tmp/rep" > "$tmp/rep.json" || fail "--repair-hives: recover failed"
[ "$(js "$tmp/rep.json" .state)" = repaired ] && [ "$(js "$tmp/rep.json" .dropped_count)" -gt 100 ] \
  && [ "$(js "$tmp/rep.json" '.dropped | length')" = "$(js "$tmp/rep.json" .dropped_count)" ] \
  || fail "--repair-hives: $(head -c 600 "$tmp/rep.json")"
regfexport "$tmp/rep" > "$tmp/rep.txt" 2> "$tmp/rep.err" && [ ! -s "$tmp/rep.err" ] \
  || fail "regfexport cannot read the repaired hive: $(head -c 300 "$tmp/rep.err")"
records () { perl "$top_srcdir/tests/regfexport-records.pl" "$1" | LC_ALL=C sort; }
records "$tmp/rep.txt" > "$tmp/rep.rec"
records "$tmp/sys.txt" > "$tmp/sys.rec"
[ -z "$(LC_ALL=C comm -23 "$tmp/rep.rec" "$tmp/sys.rec" | head -3)" ] \
  || fail "the repaired hive holds what SYSTEM does not: $(LC_ALL=C comm -23 "$tmp/rep.rec" "$tmp/sys.rec" | head -3)"
LC_ALL=C comm -13 "$tmp/rep.rec" "$tmp/sys.rec" > "$tmp/lost.rec"
jq -r '.dropped[]' "$tmp/rep.json" > "$tmp/dropped.txt"
perl "$top_srcdir/tests/regfexport-records.pl" --explain "$tmp/dropped.txt" "$tmp/lost.rec" \
  || fail "the repair lost more than it lists"
kept=$(grep -c '^K' "$tmp/rep.rec"); all=$(grep -c '^K' "$tmp/sys.rec")
[ "$kept" -gt $((all / 4)) ] || fail "the repair kept $kept of $all keys"
perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/rep" > /dev/null \
  || fail "the repaired hive: $(perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/rep")"
hivexget "$tmp/rep" 'ControlSet001\Control' CurrentUser > /dev/null || fail "hivexget cannot read the repaired hive"
winseal hive check "$tmp/rep" | grep -q ": clean$" || fail "the repaired hive is not clean"
# The dropped values the list names by name are gone, and were SYSTEM's.
grep "value '" "$tmp/dropped.txt" | head -20 | while IFS= read -r l; do
  k=${l%%: value *}; v=${l#*: value \'}; v=${v%%\' (*}
  grep -qF "V $k|$v|" "$tmp/sys.rec" && ! grep -qF "V $k|$v|" "$tmp/rep.rec" \
    || fail "dropped '$l' is not a value SYSTEM had and the repair removed"
done
# Without damage, --repair-hives changes nothing.
winseal hive recover --repair-hives "$tmp/incomplete" -o "$tmp/inc2" > /dev/null && cmp -s "$tmp/inc" "$tmp/inc2" \
  || fail "--repair-hives changed a hive that needs no repair"

# A damaged hive with a sound base block (libhivex cannot read it): the
# walk from its root every hive gets names the key whose cell is broken.
set +e
winseal hive check "$d/corrupted_system_hive" > /dev/null 2> "$tmp/c.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q "is corrupt (it is clean: its logs have nothing to give): a value's data in .ControlSet001.Control.Biosinfo lies outside the hive bins or is not a sound cell" "$tmp/c.err" \
  || fail "corrupted_system_hive: exit $rc, $(cat "$tmp/c.err")"
hivexget "$d/corrupted_system_hive" 'ControlSet001\Control' > /dev/null 2>&1 \
  && fail "corrupted_system_hive: libhivex reads it, the oracle disagrees that it is broken"
# ... and recovering it writes nothing: a file already at OUT stays.
echo keep > "$tmp/keep"
set +e
winseal hive recover "$d/corrupted_system_hive" -o "$tmp/keep" > /dev/null 2>&1; rc=$?
set -e
[ $rc = 1 ] && [ "$(cat "$tmp/keep")" = keep ] || fail "a failed recover touched its output (exit $rc)"

# SYSTEM_B: partly reconciled (its logs start past its sequence number);
# recovered, it holds keys only the logs had, and libregf reads it whole.
winseal hive recover --json "$d/SYSTEM_B" -o "$tmp/sb" > "$tmp/sb.json" || fail "SYSTEM_B: recover failed"
[ "$(js "$tmp/sb.json" .entries)" = 24 ] && [ "$(js "$tmp/sb.json" .reconciled_to)" = 2106 ] \
  || fail "SYSTEM_B: $(cat "$tmp/sb.json")"
regfexport "$tmp/sb" > "$tmp/sb.txt" 2> "$tmp/sb.err" || fail "regfexport cannot read the recovered SYSTEM_B: $(tail -2 "$tmp/sb.err")"
key='ControlSet001\Control\Class\{4d36e96c-e325-11ce-bfc1-08002be10318}\0013'
[ "$(hivexget "$tmp/sb" "$key" Driver)" = nvhda64v.sys ] || fail "SYSTEM_B: the key only the logs had is missing"
! hivexget "$d/SYSTEM_B" "$key" Driver > /dev/null 2>&1 || fail "SYSTEM_B: the key was in the primary file (the test is wrong)"

# A clean hive: as it is; its logs are not applied.
winseal hive check "$d/SYSTEM" > "$tmp/s.out" && grep -q ": clean$" "$tmp/s.out" || fail "SYSTEM: $(cat "$tmp/s.out")"
winseal hive recover "$d/SYSTEM" -o "$tmp/s" > /dev/null && cmp -s "$tmp/s" "$d/SYSTEM" || fail "a clean hive was changed"

# Usage: no output, the output being an input, an unknown action.
for args in "recover $d/SYSTEM" "recover $d/SYSTEM -o $d/SYSTEM" "recover $d/SYSTEM_B -o $d/SYSTEM_B.LOG1" \
            "frobnicate $d/SYSTEM" "check $d/SYSTEM -o $tmp/x"; do
  set +e; winseal hive $args > /dev/null 2> "$tmp/u.err"; rc=$?; set -e
  [ $rc = 1 ] && [ "$(wc -l < "$tmp/u.err")" = 1 ] || fail "winseal hive $args: exit $rc, $(cat "$tmp/u.err")"
done
# The inputs were never written.
[ "$(cd "$d" && find . -type f | sort | xargs sha256sum)" = "$sums" ] || fail "an input file changed"
echo "hive: NewDirtyHive1 = Windows 10's bins, OldDirtyHive and BadBaseBlockHive = Windows 7's (regfexport), SYSTEM_B +$(( $(wc -l < "$tmp/sb.txt") - $(regfexport "$d/SYSTEM_B" 2>/dev/null | wc -l) )) lines of regfexport"
