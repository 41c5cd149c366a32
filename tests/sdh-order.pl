#!/usr/bin/perl
# sdh-order.pl VOLUME: walk $Secure's $SDH index in order (its root and
# INDX blocks as ntfs-3g's ntfscat reads them) and check that the keys
# (hash, security id) ascend as unsigned numbers, as the collation
# COLLATION_NTOFS_SECURITY_HASH requires.  Prints the number of keys;
# exits 1 on a key out of order or a malformed node.  (The NTFS index
# layout: see formats/ntfs-secure.c; this is an independent reading.)
use strict;
use warnings;
my $vol = shift or die "usage: sdh-order.pl VOLUME\n";
sub cat { my ($t) = @_; open my $f, "-|", "ntfscat", "-a", $t, "-n", '$SDH', $vol, '$Secure' or die;
          binmode $f; local $/; my $d = <$f>; close $f; return $d // ""; }
my $root = cat ("0x90");
my $alloc = cat ("0xA0");
die "no \$SDH root\n" if length $root < 0x20;
my $bsize = unpack "V", substr $root, 8, 4;
my $vcnsz = 4096;       # the test volumes' clusters (mkntfs' default)
my @keys;
my %seen;
sub node {
  my ($buf, $h, $depth) = @_;
  die "too deep\n" if $depth > 32;
  my ($first, $used) = unpack "VV", substr $buf, $h, 8;
  my $e = $h + $first;
  while (1) {
    my ($doff, $dlen, undef, $elen, $klen, $flags) = unpack "vvVvvv", substr $buf, $e, 16;
    die "bad entry\n" if !$elen || $e + $elen > $h + $used;
    if ($flags & 1) {
      my $vcn = unpack "Q<", substr $buf, $e + $elen - 8, 8;
      die "block reached twice\n" if $seen{$vcn}++;
      my $b = substr $alloc, $vcn * $vcnsz, $bsize;
      die "not INDX\n" if substr ($b, 0, 4) ne "INDX";
      my ($uso, $usc) = unpack "vv", substr $b, 4, 4;
      for my $k (1 .. $usc - 1) { substr ($b, 512 * $k - 2, 2) = substr $b, $uso + 2 * $k, 2; }
      node ($b, 0x18, $depth + 1);
    }
    last if $flags & 2;
    push @keys, [ unpack "VV", substr $buf, $e + 16, 8 ];
    $e += $elen;
  }
}
node ($root, 0x10, 0);
for my $i (1 .. $#keys) {
  my ($a, $b) = ($keys[$i - 1], $keys[$i]);
  if ($a->[0] > $b->[0] || ($a->[0] == $b->[0] && $a->[1] >= $b->[1])) {
    printf STDERR "\$SDH key %d (hash %08x id %u) follows (hash %08x id %u)\n", $i, $b->[0], $b->[1], $a->[0], $a->[1];
    exit 1;
  }
}
print scalar (@keys), "\n";
