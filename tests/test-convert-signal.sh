#!/bin/bash
# A conversion interrupted by SIGTERM or SIGINT leaves no file at the
# output path and no temporary file beside it; an existing output is kept.
# An input truncated while it is being converted (winseal maps raw input
# files) gives one line of error, exit 1, and nothing left either.
. "$top_srcdir/tests/functions.sh"

in="$tmp/in.raw"
compressible 300M > "$in"
outdir="$tmp/out"
mkdir "$outdir"
# Wait until a conversion's temporary file is in $outdir (beside
# keep.vmdk, if that is there), then a little longer.
wait_for_temp () {
  for i in $(seq 1 100); do
    [ -n "$(ls -A "$outdir" | grep -v '^keep.vmdk$')" ] && break
    sleep 0.05
  done
  sleep 0.3
}
for sig in TERM INT; do
  # One thread and deflate on text: several seconds of work.
  $WINSEAL convert --threads 1 --no-progress "$in" "$outdir/out.vmdk" &
  pid=$!
  wait_for_temp
  kill -$sig $pid
  status=0
  wait $pid || status=$?
  [ $status -ne 0 ] || fail "SIG$sig: the conversion finished before the signal (too fast)"
  [ -z "$(ls -A "$outdir")" ] || fail "SIG$sig left: $(ls -A "$outdir")"
  echo "SIG$sig: nothing left (exit $status)"
done
# An existing output file survives an interrupted overwrite.
echo previous > "$outdir/keep.vmdk"
$WINSEAL convert --threads 1 --no-progress "$in" "$outdir/keep.vmdk" &
pid=$!
sleep 0.5
kill -TERM $pid
wait $pid || true
[ "$(cat "$outdir/keep.vmdk")" = previous ] || fail "the existing output was damaged"
[ "$(ls -A "$outdir")" = keep.vmdk ] || fail "left: $(ls -A "$outdir")"

# The input shrinks while it is being converted.
cp "$in" "$tmp/shrinks.raw"
$WINSEAL convert --threads 1 --no-progress "$tmp/shrinks.raw" "$outdir/s.vmdk" 2> "$tmp/err" &
pid=$!
wait_for_temp
truncate -s 1M "$tmp/shrinks.raw"
status=0
wait $pid || status=$?
cat "$tmp/err"
[ $status = 1 ] || fail "truncated input: exit $status (expected 1)"
[ "$(wc -l < "$tmp/err")" = 1 ] && grep -q "shrinks.raw: the input file changed" "$tmp/err" \
  || fail "truncated input: not one line naming the file"
[ "$(ls -A "$outdir")" = keep.vmdk ] || fail "truncated input left: $(ls -A "$outdir")"
