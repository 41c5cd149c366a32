#!/bin/bash
# RegRipper's samparse, reading the SAM hive copied out of each fixture,
# reports the same users, RIDs and SIDs as winseal inspect.
. "$top_srcdir/tests/functions.sh"
requires command -v regripper
requires command -v jq

dir=$(guest_hives)
for name in ws2022 win10 ws2012r2; do
  regripper -r "$dir/$name/config/SAM" -p samparse > "$tmp/rr" 2>/dev/null \
    || fail "regripper samparse $name"
  # "Username        : alice [1000]" then "SID             : S-1-5-21-...-1000"
  rr=$(awk -F' : ' '/^Username/ { split($2, a, " \\["); n = a[1]; r = a[2]; sub(/\]/, "", r) }
                    /^SID / { print r, n, $2 }' "$tmp/rr" | sort -n)
  ws=$(inspect_json "$name" | jq -r '.users[] | "\(.rid) \(.name) \(.sid)"' | sort -n)
  [ -n "$rr" ] || fail "$name: samparse found no users"
  [ "$rr" = "$ws" ] || fail "$name: samparse and inspect differ:
samparse:
$rr
inspect:
$ws"
  echo "$name: $(echo "$rr" | wc -l) users agree"
done
