#!/usr/bin/perl
# winseal tests: compare the NTFS security descriptors of a volume before
# and after `winseal generalize`, as ntfs-3g's ntfssecaudit reads them
# (`ntfssecaudit -b VOLUME /`: "File PATH" or "Directory PATH", then the
# descriptor as hex words).
#
# usage: acl-compare.pl BEFORE AFTER OLD-SID NEW-SID [+KEPT | -REMOVED]...
#   +KEPT: a path (as before) that must be there afterwards
#   -REMOVED: a path whose subtree must be gone afterwards
#
# Every entry of BEFORE that is in AFTER (names holding OLD-SID renamed to
# NEW-SID; other operations remove files) must have the old descriptor with exactly each SID of the old domain (S-1-5-21-x-y-z and
# domain+RID) turned into the new domain: same length, same ACE order,
# masks, flags, well-known SIDs.  No descriptor of AFTER may hold the old
# domain.  Prints a summary; exits 1 on the first difference.
use strict;
use warnings;

my ($before, $after, $old, $new, @paths) = @ARGV;
die "usage: acl-compare.pl BEFORE AFTER OLD-SID NEW-SID [+KEPT|-REMOVED]...\n" unless $new;
my @removed = map { substr $_, 1 } grep { /^-/ } @paths;
my @kept = map { substr $_, 1 } grep { /^\+/ } @paths;

sub load {
  my ($file) = @_;
  my (%sd, $path);
  open my $f, '<', $file or die "$file: $!\n";
  while (<$f>) {
    if (/^(?:File|Directory) (.*)$/) { $path = $1; $sd{$path} = ''; next; }
    if (defined $path && /^\s+[0-9a-f]{6}\s+((?:[0-9a-f]{8}\s*)+)$/) {
      (my $h = $1) =~ s/\s//g;
      $sd{$path} .= $h;
      next;
    }
    undef $path if /^\S/ && !/^Security key/;
  }
  return \%sd;
}

# The binary form of a machine domain's three sub-authorities, and the
# SID prefixes (revision 1, 4 or 5 sub-authorities, authority 5, 21).
sub dom {
  my @s = split /-/, shift;
  return pack 'V3', @s[4 .. 6];
}
my ($od, $nd) = (dom ($old), dom ($new));

my $b = load ($before);
my $a = load ($after);
my ($compared, $moved, $skipped, $gone) = (0, 0, 0, 0);
sub renamed { (my $q = shift) =~ s/\Q$old\E(?![0-9])/$new/gi; return $q; }
for my $k (@kept) {
  die "FAIL: $k is not in the volume before\n" unless exists $b->{$k};
  die "FAIL: $k (as " . renamed ($k) . ") is missing afterwards\n" unless exists $a->{renamed ($k)};
}
for my $p (sort keys %$b) {
  if (grep { $p eq $_ || index ($p, "$_/") == 0 } @removed) {
    die "FAIL: $p is still there\n" if exists $a->{$p};
    $skipped++;
    next;
  }
  my $q = renamed ($p);
  unless (exists $a->{$q}) {
    $gone++;
    next;
  }
  my $want = pack 'H*', $b->{$p};
  my $n = 0;
  # Byte-aligned: the SID header, then the old domain.
  $n += ($want =~ s/(\x01[\x04\x05]\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00)\Q$od\E/$1$nd/g);
  my $got = pack 'H*', $a->{$q};
  if ($got ne $want) {
    die sprintf "FAIL: %s: descriptor is not the old one with the domain moved\n  before %s\n  want   %s\n  got    %s\n",
      $p, $b->{$p}, unpack ('H*', $want), $a->{$q};
  }
  $compared++;
  $moved++ if $n;
}
for my $q (sort keys %$a) {
  my $sd = pack 'H*', $a->{$q};
  die "FAIL: $q: descriptor still holds the old domain\n" if index ($sd, $od) >= 0;
  die "FAIL: $q: name still holds the old SID\n" if $q =~ /\Q$old\E(?![0-9])/i;
}
die "FAIL: no descriptor held the old domain before (nothing was compared)\n" unless $moved;
print "$compared descriptors compared, $moved moved to the new domain, $skipped entries removed as asked, $gone removed by other operations\n";
exit 0;
