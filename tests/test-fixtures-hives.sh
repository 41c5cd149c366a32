#!/bin/bash
# Every hive in the good fixtures (copied out of the images) is parsed
# without error by independent readers: libregf's regfexport and hivex.
. "$top_srcdir/tests/functions.sh"
requires command -v regfexport
requires command -v hivexsh

dir=$(guest_hives)
n=0
while IFS= read -r -d '' f; do
  [ "$(head -c 4 "$f")" = regf ] || continue
  regfexport "$f" > "$tmp/out" 2> "$tmp/err" || fail "regfexport $f: $(tail -n1 "$tmp/err")"
  grep -qi 'error' "$tmp/err" && fail "regfexport $f: $(cat "$tmp/err")"
  echo ls | hivexsh "$f" > /dev/null || fail "hivexsh $f"
  n=$((n+1))
done < <(find "$dir" -type f -print0)
# 5 system hives per image, NTUSER.DAT + UsrClass.dat per profile (with Default).
[ $n -ge 30 ] || fail "only $n hives found"
echo "$n hives parsed"

# The root key's security descriptor (the hive's first sk cell) names a
# machine-domain SID, so SID rewriting in sk cells can be tested.
sid=$(spec_get ws2022 MACHINE_SID)
IFS=- read -r _ _ _ _ x y z <<< "$sid"
le32 () { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
pattern="0105000000000005""15000000$(le32 "$x")$(le32 "$y")$(le32 "$z")"
hex=$(od -An -tx1 -v "$dir/ws2022/config/SYSTEM" | tr -d ' \n')
sk=${hex#*736b0000}          # from the first "sk" cell signature on
[ "$sk" != "$hex" ] || fail "SYSTEM has no sk cell"
case "${sk:0:600}" in
  *"$pattern"*) ;;
  *) fail "SYSTEM root security descriptor does not name a SID of $sid" ;;
esac
