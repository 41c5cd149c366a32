#!/usr/bin/perl
# hive-consistency.pl HIVE: an independent check of what a repair must
# keep right in a hive, walking it from the root key: every key node's
# subkey count equals the entries of its subkey list (lf, lh, li, ri),
# and the security keys (sk) that the keys reference form one closed
# ring (flink at +4, blink at +8 of the cell data) from the root key's,
# each with the reference count (+12) of the keys that point at it.
# Prints "KEYS keys, SKS security keys" and exits 0, or names the first
# fault and exits 1.
use strict;
use warnings;
open my $f, '<:raw', $ARGV[0] or die "$ARGV[0]: $!\n";
local $/;
my $d = <$f>;
my $B = 4096;
sub fault { print "$ARGV[0]: $_[0]\n"; exit 1 }
sub at { my ($o, $n) = @_; fault (sprintf "offset 0x%x lies past the file", $o) if $B + $o + $n > length $d; substr $d, $B + $o, $n }
sub u32 { unpack 'V', at ($_[0], 4) }
sub u16 { unpack 'v', at ($_[0], 2) }
sub sig { at ($_[0] + 4, 2) }
sub list_keys {
  my ($l, $in_ri) = @_;
  my ($s, $n) = (sig ($l), u16 ($l + 6));
  return map { u32 ($l + 8 + 8 * $_) } 0 .. $n - 1 if $s eq 'lf' || $s eq 'lh';
  return map { u32 ($l + 8 + 4 * $_) } 0 .. $n - 1 if $s eq 'li';
  return map { list_keys (u32 ($l + 8 + 4 * $_), 1) } 0 .. $n - 1 if $s eq 'ri' && !$in_ri;
  fault (sprintf "a subkey list at 0x%x is '%s'", $l, $s);
}
my $root = unpack 'V', substr $d, 36, 4;
my (%refs, %seen);
my @todo = ($root);
my $keys = 0;
while (@todo) {
  my $k = pop @todo;
  fault (sprintf "key 0x%x walked twice", $k) if $seen{$k}++;
  fault (sprintf "a key at 0x%x is '%s'", $k, sig ($k)) unless sig ($k) eq 'nk';
  $keys++;
  $refs{u32 ($k + 4 + 44)}++;
  my $n = u32 ($k + 4 + 20);
  next unless $n;
  my @sub = list_keys (u32 ($k + 4 + 28), 0);
  fault (sprintf "key 0x%x says %d subkeys, its list holds %d", $k, $n, scalar @sub) if @sub != $n;
  push @todo, @sub;
}
my $first = u32 ($root + 4 + 44);
my @ring = ($first);
for (my $o = u32 ($first + 8); $o != $first; $o = u32 ($o + 8)) {
  fault (sprintf "the security ring reaches 0x%x, not a security key", $o) unless sig ($o) eq 'sk';
  fault (sprintf "security key 0x%x: its blink is not the previous one", $o) if u32 ($o + 12) != $ring[-1];
  fault ("the security ring does not close") if @ring > keys %refs;
  push @ring, $o;
}
fault ("the root's security key's blink is not the last one") if u32 ($first + 12) != $ring[-1];
my %inring = map { $_ => 1 } @ring;
for my $s (sort { $a <=> $b } keys %refs) {
  fault (sprintf "security key 0x%x is referenced but not in the ring", $s) unless $inring{$s};
  fault (sprintf "security key 0x%x counts %d references, %d keys point at it", $s, u32 ($s + 16), $refs{$s})
    if u32 ($s + 16) != $refs{$s};
}
fault ("the ring holds security keys no key references") if @ring != keys %refs;
printf "%d keys, %d security keys\n", $keys, scalar @ring;
