#!/bin/bash
# The bash completion script: made from winseal's option tables at build
# time, installed by `make install`, and what it offers is what winseal's
# own parser takes (each option, operation and format it completes is
# tried on winseal itself) and what --help documents.
. "$top_srcdir/tests/functions.sh"

script=$top_builddir/bash-completion/winseal
[ -s "$script" ] || fail "$script was not made"
bash -n "$script" || fail "$script is not valid bash"

# make install puts it where bash-completion looks (DESTDIR install of
# that one target).
make -s -C "$top_builddir" install-bashcompDATA DESTDIR="$tmp/inst" >/dev/null \
  || fail "make install-bashcompDATA failed"
inst=$(find "$tmp/inst" -path '*/bash-completion/completions/winseal' -type f)
[ -n "$inst" ] || fail "make install did not install the completion in .../bash-completion/completions"
cmp -s "$inst" "$script" || fail "the installed completion differs from the built one"

# complete WORDS...: what the completion offers for the last word.
complete_words () {
  bash -c '
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    _winseal
    printf "%s\n" "${COMPREPLY[@]}"' _ "$inst" "$@"
}

# Commands.
complete_words winseal gen > "$tmp/c"
[ "$(cat "$tmp/c")" = generalize ] || fail "'winseal gen' completes to: $(cat "$tmp/c")"
complete_words winseal "" | sort > "$tmp/c"
listed=$(winseal --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sort)
[ "$(cat "$tmp/c")" = "$listed" ] || fail "'winseal ' offers $(echo $(cat "$tmp/c")), --help lists $(echo $listed)"
complete_words winseal -v b | sort | tr '\n' ' ' > "$tmp/c"
[ "$(cat "$tmp/c")" = "batch build " ] || fail "'winseal -v b' offers: $(cat "$tmp/c")"
for c in $(complete_words winseal ""); do
  winseal "$c" --help > "$tmp/h" 2>&1 || fail "completed command $c: --help fails"
  grep -q "^Usage: winseal $c" "$tmp/h" || fail "completed command $c is not a command"
done

# Options: every one offered is taken by the command's parser (no
# "unknown option"), and documented (in its --help or, inherited, in
# generalize's); every option --help documents is offered.
n=0
for c in $(complete_words winseal ""); do
  complete_words winseal "$c" -- > "$tmp/opts"
  complete_words winseal "$c" - > "$tmp/all"
  [ -s "$tmp/opts" ] || fail "winseal $c --: nothing offered"
  while read -r o; do
    n=$((n + 1))
    status=0
    winseal "$c" "$o" x y > "$tmp/out" 2> "$tmp/err" < /dev/null || status=$?
    if grep -q "unknown option" "$tmp/err"; then
      fail "winseal $c: completion offers $o, which the command refuses: $(cat "$tmp/err")"
    fi
    grep -q -- "$o\b" <(winseal "$c" --help; winseal generalize --help; winseal --help) \
      || fail "winseal $c: completion offers $o, documented nowhere"
  done < "$tmp/opts"
  for o in $(winseal "$c" --help | grep -E '^  +(-[a-zA-Z], )?--[a-z]' | grep -o -- '--[a-z0-9-]*' | sort -u); do
    grep -qx -- "$o" "$tmp/opts" || fail "winseal $c: $o is in --help but not completed"
  done
  for o in $(winseal "$c" --help | grep -oE '^  +-[a-zA-Z],' | tr -d ' ,'); do
    grep -qx -- "$o" "$tmp/all" || fail "winseal $c: $o is in --help but not completed"
  done
done
[ "$n" -gt 100 ] || fail "only $n options were offered"

# Values: operations and formats it completes are ones winseal takes.
for op in $(complete_words winseal generalize --enable ""); do
  winseal verify --enable "$op" "$tmp/none.img" > /dev/null 2> "$tmp/err" || true
  grep -q "operation" "$tmp/err" && fail "completed operation $op is refused: $(cat "$tmp/err")"
done
[ "$(complete_words winseal generalize --disable s | wc -l)" -ge 2 ] \
  || fail "--disable s offers fewer than two operations"
: > "$tmp/in.raw"
for f in $(complete_words winseal convert --format ""); do
  winseal convert --format "$f" "$tmp/in.raw" "$tmp/out.x" > /dev/null 2> "$tmp/err" || true
  grep -q "unknown output format" "$tmp/err" && fail "completed format $f is refused"
done
for f in $(complete_words winseal convert --input-format ""); do
  winseal convert --input-format "$f" "$tmp/in.raw" "$tmp/out.vhd" > /dev/null 2> "$tmp/err" || true
  grep -q "unknown input format" "$tmp/err" && fail "completed input format $f is refused"
done

# Files: a word that is not an option completes as a path.
: > "$tmp/golden-image.vhd"
complete_words winseal generalize "$tmp/golden-i" > "$tmp/c"
[ "$(cat "$tmp/c")" = "$tmp/golden-image.vhd" ] || fail "file completion offers: $(cat "$tmp/c")"
echo "test-completion: $n options offered, each taken by winseal"
exit 0
