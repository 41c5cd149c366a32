#!/bin/bash
# $Secure: the old machine domain moved inside every shared security
# descriptor (formats/ntfs-secure.c, which sid-reset runs on each NTFS
# volume once the volumes are unmounted), without the appliance.  A
# volume made by mkntfs and ntfscp; ntfs-3g's ntfssecaudit -s gives 200
# files distinct descriptors naming accounts of the old domain and 100
# more naming another domain (enough for $SDH and $SII to need index
# blocks below their roots, and for the moved keys to need re-sorting
# among the others).  Oracles:
# ntfssecaudit -a audits $SDS (both copies), $SII and $SDH (hashes,
# offsets, key order, every key in every list) before and after;
# ntfssecaudit -b reads each file's descriptor through its security id;
# tests/sdh-order.pl walks $SDH in order (its keys must ascend);
# a byte search finds no old domain; ntfs-3g given a descriptor equal to
# a moved one finds it through $SDH (no new $SDS entry); ntfsfix -n.  A
# volume with a damaged entry hash is refused and left byte for byte.
. "$top_srcdir/tests/functions.sh"
requires command -v mkntfs
requires command -v ntfscp
requires command -v ntfssecaudit
requires command -v ntfsinfo
TOOL=$top_builddir/tests/ntfs-secure-tool
OLD=S-1-5-21-1111111111-2222222222-333333333
NEW=S-1-5-21-1234567890-1234567890-123456789
OTHER=S-1-5-21-3000000000-3000000000-300000000
N=200           # files of the old domain; M more of another, not moved
M=100

# acl_file DOMAIN FIRST LAST [FILE-NAME-OFFSET]: an ntfssecaudit backup
# giving file fNNN an owner DOMAIN-(1000+NNN), group DOMAIN-513, and a
# DACL granting that owner full access.
acl_file () {
  perl -e '
    my ($dom, $first, $last) = @ARGV;
    my @d = (split /-/, $dom)[4..6];
    sub sid { pack "CCa6V*", 1, scalar @_, "\0\0\0\0\0\5", @_ }
    for my $i ($first .. $last) {
      my $owner = sid (21, @d, 1000 + $i), $group = sid (21, @d, 513);
      my $ace = pack ("CCvV", 0, 0, 8 + length $owner, 0x1f01ff) . $owner;
      my $acl = pack ("CCvvv", 2, 0, 8 + length $ace, 1, 0) . $ace;
      my $o = 20 + length $acl;
      my $sd = pack ("CCvVVVV", 1, 0, 0x8004, $o, $o + length $owner, 0, 20) . $acl . $owner . $group;
      printf "File /f%03d\n", $i;
      for (my $k = 0; $k < length $sd; $k += 16) {
        my $c = substr $sd, $k, 16;
        printf "        %06x  %s\n", $k, join " ", map { unpack "H*", $_ } unpack "(a4)*", $c;
      }
    }' "$@"
}
# audit VOL: every section of ntfssecaudit -a clean (its exit status is
# 0 even when it finds errors).
audit () {
  ntfssecaudit -a "$1" > "$tmp/audit" 2>&1 || { tail -5 "$tmp/audit" >&2; fail "ntfssecaudit -a fails ($2)"; }
  for s in '$SDS-1' '$SDS-2' '$SII' '$SDH'; do
    grep -qxF "0 errors in $s" "$tmp/audit" || { cat "$tmp/audit" >&2; fail "ntfssecaudit -a: errors in $s ($2)"; }
  done
  grep -q "All keys are present in all lists" "$tmp/audit" || fail "ntfssecaudit -a: keys missing ($2)"
}
entries () { sed -n 's/^\([0-9]*\) valid and .* in \$SDS-1$/\1/p' "$tmp/audit"; }
val () { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<< "$2"; }

echo hi > "$tmp/a.txt"
truncate -s 64M "$tmp/v.raw"
mkntfs -F -Q -q "$tmp/v.raw" > /dev/null 2>&1 || fail "mkntfs failed"
for i in $(seq -f %03g 0 $((N + M - 1))); do
  ntfscp -q "$tmp/v.raw" "$tmp/a.txt" "f$i" || fail "ntfscp failed"
done
{ acl_file $OLD 0 $((N - 1)); acl_file $OTHER $N $((N + M - 1)); } > "$tmp/acl.txt"
ntfssecaudit -s "$tmp/v.raw" "$tmp/acl.txt" > /dev/null 2>&1 || fail "ntfssecaudit -s failed"
audit "$tmp/v.raw" "the volume as made"
before=$(entries)
[ "$before" -gt $((N + M)) ] || fail "ntfssecaudit sees $before entries, not more than $((N + M))"
blocks=$(ntfsinfo -v -i 9 "$tmp/v.raw" 2>/dev/null | awk '/Resident:/ { r = /No/ } r && /Attribute name:.*\$SDH/ { a = 1 } a && /Data size/ { print $3; exit }')
[ "${blocks:-0}" -ge 8192 ] || fail "the index has fewer than two blocks (${blocks:-0} bytes): the test does not reach subnodes"
old_hex=$(sid_hex $OLD)
[ "$(count_bytes "$tmp/v.raw" "$old_hex")" -ge $((4 * N)) ] || fail "the old domain is not in the volume to begin with"

# Count only: nothing changes.
cp "$tmp/v.raw" "$tmp/w.raw"
sum=$(sha256sum < "$tmp/w.raw")
out=$("$TOOL" "$tmp/w.raw" $OLD -) || fail "counting failed"
[ "$(val with_domain "$out")" = $((2 * N)) ] || fail "count: $out (want with_domain=$((2 * N)), both copies)"
[ "$(sha256sum < "$tmp/w.raw")" = "$sum" ] || fail "counting changed the volume"

# The move.
out=$("$TOOL" "$tmp/w.raw" $OLD $NEW) || fail "the move failed: $out"
[ "$(val rewritten "$out")" = $((2 * N)) ] && [ "$(val index_entries "$out")" = $((2 * N)) ] \
  || fail "move: $out (want $((2 * N)) entries and $((2 * N)) index entries)"
audit "$tmp/w.raw" "after the move"
keys=$(perl "$top_srcdir/tests/sdh-order.pl" "$tmp/w.raw") || fail "\$SDH is out of order after the move"
[ "$keys" = "$before" ] || fail "\$SDH holds $keys keys after the move, not $before"
[ "$(entries)" = "$before" ] || fail "the move changed the number of entries"
[ "$(count_bytes "$tmp/w.raw" "$old_hex")" = 0 ] || fail "the old domain is still in the volume"
owners=$(ntfssecaudit -b "$tmp/w.raw" / 2>/dev/null | grep -c "^# Windows owner $NEW-1")
[ "$owners" = $N ] || fail "ntfssecaudit -b reads $owners files owned by the new domain, not $N"
ntfsfix -n "$tmp/w.raw" > /dev/null 2>&1 || fail "ntfsfix -n fails after the move"
out=$("$TOOL" "$tmp/w.raw" $OLD $NEW) || fail "a second move failed"
[ "$(val rewritten "$out")" = 0 ] || fail "a second move rewrote something: $out"
# ntfs-3g looks descriptors up in $SDH by (hash, id), descending the
# tree: giving each file another file's descriptor (as the move made
# it), it must find every one, so no entry is added (an unsorted $SDH
# fails this).
acl_file $NEW 0 $((N - 1)) | perl -pe 's|^File /f(\d+)|sprintf "File /f%03d", '$((N - 1))' - $1|e' > "$tmp/acl2.txt"
grep -q "^File /f000" "$tmp/acl2.txt" || fail "the swapped backup is malformed"
ntfssecaudit -s "$tmp/w.raw" "$tmp/acl2.txt" > /dev/null 2>&1 || fail "ntfssecaudit -s (after) failed"
audit "$tmp/w.raw" "after ntfs-3g set a descriptor"
[ "$(entries)" = "$before" ] || fail "ntfs-3g did not find the moved descriptors through \$SDH: $(entries) entries, not $before"

# A damaged hash: refused, nothing written.
cp "$tmp/v.raw" "$tmp/bad.raw"
# The first descriptor naming the domain (in $SDS: the ACE's SID is 36
# bytes into the descriptor, which follows the 20-byte entry header).
sid_at=$(perl -e 'local $/; open my $f, "<:raw", $ARGV[0] or die; my $d = <$f>;
  print index ($d, pack ("CCa6V", 1, 5, "\0\0\0\0\0\5", 21) . pack ("H*", $ARGV[1])), "\n"' \
  "$tmp/bad.raw" "$old_hex")
[ "$sid_at" -gt 56 ] || fail "no SID of the old domain found to damage"
printf '\xa5' | dd of="$tmp/bad.raw" bs=1 seek=$((sid_at - 56)) conv=notrunc status=none
sum=$(sha256sum < "$tmp/bad.raw")
"$TOOL" "$tmp/bad.raw" $OLD $NEW > /dev/null 2> "$tmp/bad.err" && fail "a damaged entry hash was not refused"
grep -q "hash that does not match" "$tmp/bad.err" || fail "refusal without its reason: $(cat "$tmp/bad.err")"
[ "$(sha256sum < "$tmp/bad.raw")" = "$sum" ] || fail "a refused volume was written to"
echo "moved $((2 * N)) entries; ntfssecaudit clean before and after"
