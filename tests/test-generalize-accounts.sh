#!/bin/bash
# --remove-accounts with --keep-profile and --operations: alice's profile
# and account go (SAM user, Names entry, alias memberships: RegRipper's
# samparse shows neither the user nor the group members), bob's stay; the
# raw output is what guestfish and RegRipper read.
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v regripper

img=$(image ws2022)
winseal generalize --json --no-progress --operations sid-reset,profile-cleanup \
  --remove-accounts --keep-profile bob --format raw "$img" -o "$tmp/out.raw" > "$tmp/r.json"
new=$(jq -r .new_sid "$tmp/r.json")
[ "$(jq -r '.operations | keys | join(",")' "$tmp/r.json")" = "profile-cleanup,sid-reset" ] \
  || fail "--operations did not limit the run"
[ "$(jq -r '.operations["profile-cleanup"].profiles_removed[].sid' "$tmp/r.json")" = "$new-1000" ] \
  || fail "not exactly alice's profile removed"

guestfish --ro --format=raw -a "$tmp/out.raw" > "$tmp/ls" <<EOS
run
mount-ro /dev/sda$(c_part ws2022) /
download /Windows/System32/config/SAM $tmp/SAM
download /Windows/System32/config/SOFTWARE $tmp/SOFTWARE
ls /Users
EOS
! grep -qx alice "$tmp/ls" || fail "alice's profile directory is still there"
grep -qx bob "$tmp/ls" || fail "bob's profile directory was removed"

regripper -r "$tmp/SAM" -p samparse > "$tmp/sam" 2>/dev/null || fail samparse
! grep -q "^Username *: alice" "$tmp/sam" || fail "alice is still a SAM user"
grep -q "^Username *: bob" "$tmp/sam" || fail "bob's account was removed"
! grep -q -- "$new-1000\$" "$tmp/sam" || fail "alice's SID is still a group member"
grep -q -- "^  $new-1001\$" "$tmp/sam" || fail "bob's memberships are gone"
grep -q -- "^  $new-500\$" "$tmp/sam" || fail "Administrator's membership is gone"
# Administrators lost exactly one member, and says so.
grep -q "^Group Name *: Administrators \[1\]" "$tmp/sam" || fail "Administrators member count"
regripper -r "$tmp/SOFTWARE" -p profilelist > "$tmp/pl" 2>/dev/null || fail profilelist
grep -q "^SID *: $new-1001$" "$tmp/pl" || fail "bob's ProfileList key is missing"
! grep -q "^SID *: $new-1000$" "$tmp/pl" || fail "alice's ProfileList key is still there"
winseal verify --operations sid-reset,profile-cleanup --keep-profile bob "$tmp/out.raw" > "$tmp/v" \
  || { cat "$tmp/v"; fail "verify fails"; }
echo "alice removed with her account and memberships; bob kept"
