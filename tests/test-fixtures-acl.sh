#!/bin/bash
# The fixture's private files carry NTFS security descriptors naming their
# local user (owner) and the machine's None group, as ntfs-3g's own
# auditing tool reads them from the file system.
. "$top_srcdir/tests/functions.sh"
requires command -v ntfssecaudit

img=$(image ws2022)
start=$(spec_lines ws2022 | sed -n 's/^PART=[0-9]*:ntfs:\([0-9]*\):[^:]*:[^:]*:c:.*/\1/p')
dd if="$img" of="$tmp/c.ntfs" bs=1M skip="$start" conv=sparse status=none
sid=$(spec_get ws2022 MACHINE_SID)
for user in alice:1000 bob:1001; do
  name=${user%:*} rid=${user#*:}
  ntfssecaudit "$tmp/c.ntfs" "/Users/$name/Documents/private.txt" > "$tmp/out" 2>&1 \
    || fail "ntfssecaudit $name: $(cat "$tmp/out")"
  grep -q "^Windows owner $sid-$rid\$" "$tmp/out" || fail "$name: owner: $(cat "$tmp/out")"
  grep -q "^Windows group $sid-513\$" "$tmp/out" || fail "$name: group: $(cat "$tmp/out")"
done
# The helper that set them left nothing behind in the volume.
ntfssecaudit "$tmp/c.ntfs" /ntacl-set.exe > "$tmp/out" 2>&1 && grep -q 'key' "$tmp/out" \
  && fail "the ntacl-set helper was left in the image"
echo "ACLs name their users"
