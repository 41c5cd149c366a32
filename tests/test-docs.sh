#!/bin/bash
# Every option of every command is documented, in its --help and in its
# section of winseal(1), and the manual documents no option the command
# does not take (as guestfs-tools' podcheck.pl).  The options come from
# the option tables themselves (winseal COMMAND --long-options and
# --short-options, also used by the bash completion).  Options every
# command takes (-v, -x, --help, --long-options, --short-options) are
# documented once, under the global options; build and clone take
# generalize's options, documented once under generalize.
. "$top_srcdir/tests/functions.sh"

pod=$top_srcdir/man/winseal.pod
[ -s "$pod" ] || fail "no $pod"

# The POD text of "=head2 NAME" (or "=head1 NAME"), up to the next heading.
section () {
  awk -v h="$1" '
    /^=head[12] / { on = ($0 == "=head2 " h || $0 == "=head1 " h); next }
    on' "$pod"
}
section "GLOBAL OPTIONS" > "$tmp/man-global"
[ -s "$tmp/man-global" ] || fail "the manual has no GLOBAL OPTIONS section"
winseal --help > "$tmp/help-global"
winseal --long-options > "$tmp/long-global"
[ "$(wc -l < "$tmp/long-global")" -ge 6 ] || fail "winseal --long-options: $(cat "$tmp/long-global")"
# Global options: in winseal --help and in GLOBAL OPTIONS.
while read -r o; do
  grep -q -- "$o\b" "$tmp/help-global" || fail "winseal --help does not document $o"
  grep -q -- "B<$o>" "$tmp/man-global" || fail "winseal(1) GLOBAL OPTIONS does not document $o"
done < "$tmp/long-global"
# The ones every command also takes.
common="--help --verbose --trace --long-options --short-options"

commands=$(winseal --commands)
# The commands --help lists (its "Commands:" block) are those --commands prints.
listed=$(sed -n '/^Commands:/,/^$/p' "$tmp/help-global" | awk 'NR > 1 && NF { print $1 }')
[ "$(echo $listed)" = "$(echo $commands)" ] && [ "$(wc -w <<<"$commands")" -ge 9 ] \
  || fail "winseal --commands ($(echo $commands)) is not what --help lists ($(echo $listed))"
for c in $commands; do
  grep -q "^  $c " "$tmp/help-global" || fail "winseal --help does not list $c"
done
winseal generalize --help > "$tmp/help-generalize"
section generalize > "$tmp/man-generalize"
winseal generalize --long-options > "$tmp/long-generalize"

problems=0
problem () { echo "FAIL: $*" >&2; problems=$((problems + 1)); }
checked=0
for c in $commands; do
  winseal "$c" --help > "$tmp/help-$c" || problem "winseal $c --help failed"
  grep -q "^Usage: winseal $c" "$tmp/help-$c" || problem "winseal $c --help has no usage line"
  section "$c" > "$tmp/man-$c"
  [ -s "$tmp/man-$c" ] || problem "winseal(1) has no section for $c"
  winseal "$c" --long-options > "$tmp/long-$c" || problem "winseal $c --long-options failed"
  winseal "$c" --short-options > "$tmp/short-$c" || problem "winseal $c --short-options failed"
  [ -s "$tmp/long-$c" ] || problem "winseal $c --long-options printed nothing"
  inherits=0
  grep -q 'generalize' "$tmp/help-$c" && [ "$c" != generalize ] && [ "$c" != batch ] \
    && grep -q 'options' "$tmp/help-$c" && inherits=1
  while read -r o; do
    checked=$((checked + 1))
    case " $common " in *" $o "*)
      grep -q -- "B<$o>" "$tmp/man-global" || problem "$c: $o is not in GLOBAL OPTIONS"
      continue ;;
    esac
    if grep -q -- "$o\b" "$tmp/help-$c"; then
      grep -q -- "$o\b" "$tmp/man-$c" || problem "winseal(1), $c: $o (in --help) is not documented"
      continue
    fi
    # Taken from generalize: documented there, and the command says so.
    if [ $inherits = 1 ] && grep -qx -- "$o" "$tmp/long-generalize"; then
      grep -q -- "$o\b" "$tmp/help-generalize" || problem "$c: $o is in neither its --help nor generalize's"
      grep -q -- "$o\b" "$tmp/man-generalize" || problem "$c: $o is not in winseal(1), generalize"
      continue
    fi
    problem "winseal $c --help does not document $o"
  done < "$tmp/long-$c"
  # Short options: "-X" in --help and the manual.
  while read -r o; do
    checked=$((checked + 1))
    case $o in -v|-x|-h) grep -q -- "B<$o>" "$tmp/man-global" || problem "$o not in GLOBAL OPTIONS"; continue ;; esac
    if [ $inherits = 1 ] && ! grep -q -- "$o[ ,]" "$tmp/help-$c"; then
      grep -q -- "$o[ ,]" "$tmp/help-generalize" || problem "$c: $o is undocumented"
      continue
    fi
    grep -q -- "$o[ ,]" "$tmp/help-$c" || problem "winseal $c --help does not document $o"
    grep -q -- "B<$o>" "$tmp/man-$c" || grep -q -- "B<$o>" "$tmp/man-generalize" \
      || problem "winseal(1), $c: $o is not documented"
  done < "$tmp/short-$c"
  # The other way: what the manual's section and --help name as options
  # of this command are options it takes.
  for o in $(sed -n 's/^=item //p' "$tmp/man-$c" | grep -o -- 'B<--[a-z0-9-]*>' | sed 's/^B<//; s/>$//' | sort -u); do
    grep -qx -- "$o" "$tmp/long-$c" || grep -qx -- "$o" "$tmp/long-global" \
      || problem "winseal(1), $c documents $o, which winseal $c does not take"
  done
  for o in $(grep -E '^  +(-[a-zA-Z], )?--[a-z]' "$tmp/help-$c" | grep -o -- '--[a-z0-9-]*' | sort -u); do
    grep -qx -- "$o" "$tmp/long-$c" || grep -qx -- "$o" "$tmp/long-global" \
      || problem "winseal $c --help documents $o, which it does not take"
  done
done
# Every pointer into the manual from the program's messages and --help
# ("winseal(1), SECTION", "winseal(1), section SECTION") names a section
# or command heading that exists.
refs=0
while IFS= read -r ref; do
  refs=$((refs + 1))
  sec=${ref#winseal(1), }; sec=${sec#section }
  grep -qE "^=head[12] $sec\$" "$top_srcdir/man/winseal.pod" \
    || problem "the program points to winseal(1), $sec, which the manual does not have"
done < <(cat "$top_srcdir"/src/*/*.c "$top_srcdir"/src/*/*/*.c 2>/dev/null \
         | grep -oE 'winseal\(1\), (section )?[A-Za-z][A-Za-z ]*[A-Za-z]' | sort -u)
[ "$refs" -ge 3 ] || problem "only $refs pointers into the manual found"
[ "$checked" -gt 80 ] || problem "only $checked options checked"
[ "$problems" -eq 0 ] || fail "$problems undocumented or misdocumented options"
echo "test-docs: $checked options of $(wc -w <<<"$commands") commands checked"
exit 0
