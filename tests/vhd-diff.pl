#!/usr/bin/perl
# Build a differencing VHD by the VHD specification ("Hard Disk Footer
# Format", "Dynamic Disk Header Format", "Block Allocation Table and Data
# Blocks") over a parent VHD, and the raw disk a reader must see through
# it: the parent's raw content (PARENT_RAW) with the child's sectors laid
# over it, sector by sector as the child's bitmaps say.
#
#   vhd-diff.pl [--locators w2ru,w2ku] [--name NAME] [--wrong-uuid] [--odd]
#               PARENT.vhd PARENT_RAW CHILD.vhd EXPECTED_RAW
#
# The parent is named by a relative (W2ru ".\NAME") and an absolute (W2ku
# "C:\VMs\NAME") locator and by the Parent Unicode Name, NAME defaulting
# to the parent's file name; --locators picks which locators are written
# (an empty list: only the name); --wrong-uuid records another parent ID.
# The child's sector runs are 4 KiB aligned (libvhdi reads a bitmap byte's
# eight sectors alike); --odd adds single sectors, which the specification
# allows (one bit a sector).
use strict;
use warnings;
use Getopt::Long;
use File::Basename;

my ($locs, $name, $wrong, $odd) = ('w2ru,w2ku', undef, 0, 0);
GetOptions ('locators=s' => \$locs, 'name=s' => \$name, 'wrong-uuid' => \$wrong,
            'odd' => \$odd) or die "usage\n";
my ($pvhd, $praw, $child, $expect) = @ARGV;
die "usage: vhd-diff.pl PARENT.vhd PARENT_RAW CHILD.vhd EXPECTED_RAW\n" unless defined $expect;
$name //= basename ($pvhd);

sub slurp { my ($f, $off, $len) = @_; open my $h, '<:raw', $f or die "$f: $!\n";
  seek $h, $off, 0; read ($h, my $b, $len) == $len or die "$f: short read\n"; $b }
my $psize = -s $pvhd;
my $pfoot = slurp ($pvhd, $psize - 512, 512);
substr ($pfoot, 0, 8) eq 'conectix' or die "$pvhd: no VHD footer\n";
my $size = unpack 'Q>', substr ($pfoot, 48, 8);
my $puuid = substr ($pfoot, 68, 16);
$puuid = pack ('C*', map { $_ ^ 0x5a } unpack ('C*', $puuid)) if $wrong;
-s $praw == $size or die "$praw: not $size bytes\n";

sub checksum { my ($b, $at) = @_; substr ($b, $at, 4) = "\0\0\0\0";
  my $s = 0; $s += $_ for unpack 'C*', $b; substr ($b, $at, 4) = pack 'N', (~$s) & 0xffffffff; $b }
sub utf16 { my ($s, $be) = @_; join '', map { pack ($be ? 'n' : 'v', ord) } split //, $s }

my $bs = 2 << 20;
my $entries = int (($size + $bs - 1) / $bs);
my $bat_off = 1536;
my $bat_len = ($entries * 4 + 511) & ~511;
my $next = $bat_off + $bat_len;
my (@loc, %locdata);
for my $code (split /,/, $locs) {
  my $path = $code eq 'w2ru' ? ".\\$name" : $code eq 'w2ku' ? "C:\\VMs\\$name" : die "locator $code?\n";
  my $data = utf16 ($path, 0);
  push @loc, [ $code eq 'w2ru' ? 'W2ru' : 'W2ku', length $data, $next ];
  $locdata{$next} = $data;
  $next += 512;
}

# The child's blocks: [block, [first sector, sectors], ...], its data a
# pattern per block; sectors outside the runs hold 0xEE, which no reader
# may show.
my @blocks = ([0, [0, 8], [96, 200]], [2, [0, 4096]], [3, [4088, 8]]);
@blocks = ([0, [0, 8], [96, 200], [300, 3]], [2, [0, 4096]], [3, [4095, 1]], [4, [7, 1]]) if $odd;
@blocks = grep { $_->[0] < $entries } @blocks;
my @bat = (0xffffffff) x $entries;
my %blockdata;
open my $exp, '>:raw', $expect or die "$expect: $!\n";
open my $pr, '<:raw', $praw or die "$praw: $!\n";
{ local $/ = \ (1 << 20); while (my $b = <$pr>) { print $exp $b } }
close $pr;
for my $bl (@blocks) {
  my ($b, @runs) = @$bl;
  my $bitmap = "\0" x 512;
  my $data = "\xee" x $bs;
  for my $r (@runs) {
    my ($first, $n) = @$r;
    for my $s ($first .. $first + $n - 1) {
      substr ($bitmap, $s >> 3, 1) = chr (ord (substr ($bitmap, $s >> 3, 1)) | (0x80 >> ($s & 7)));
      my $sec = pack ('C', 0xa0 + $b) . pack ('N', $s) . (chr (0x30 + ($s % 64)) x 507);
      substr ($data, $s * 512, 512) = $sec;
      my $at = $b * $bs + $s * 512;
      if ($at < $size) { seek $exp, $at, 0; print $exp $sec }
    }
  }
  $bat[$b] = $next / 512;
  $blockdata{$next} = $bitmap . $data;
  $next += 512 + $bs;
}
close $exp or die;

my $foot = "\0" x 512;
substr ($foot, 0, 8) = 'conectix';
substr ($foot, 8, 8) = pack 'NN', 2, 0x00010000;
substr ($foot, 16, 8) = pack 'Q>', 512;
substr ($foot, 24, 4) = pack 'N', 0x2a000000;
substr ($foot, 28, 12) = 'win ' . pack ('N', 0x000a0000) . 'Wi2k';
substr ($foot, 40, 16) = pack 'Q>Q>', $size, $size;
substr ($foot, 56, 4) = substr ($pfoot, 56, 4);
substr ($foot, 60, 4) = pack 'N', 4;
substr ($foot, 68, 16) = pack 'C*', map { (17 * $_ + 3) & 0xff } 0 .. 15;
$foot = checksum ($foot, 64);

my $hdr = "\0" x 1024;
substr ($hdr, 0, 8) = 'cxsparse';
substr ($hdr, 8, 8) = "\xff" x 8;
substr ($hdr, 16, 8) = pack 'Q>', $bat_off;
substr ($hdr, 24, 12) = pack 'NNN', 0x00010000, $entries, $bs;
substr ($hdr, 40, 16) = $puuid;
substr ($hdr, 56, 4) = substr ($pfoot, 24, 4);
substr ($hdr, 64, 2 * length $name) = utf16 ($name, 1);
for my $i (0 .. $#loc) {
  my ($code, $len, $off) = @{$loc[$i]};
  substr ($hdr, 576 + 24 * $i, 24) = $code . pack ('NNNQ>', 1, $len, 0, $off);
}
$hdr = checksum ($hdr, 36);

open my $c, '>:raw', $child or die "$child: $!\n";
print $c $foot, $hdr;
print $c pack ('N*', @bat), "\xff" x ($bat_len - 4 * $entries);
for my $off (sort { $a <=> $b } (keys %locdata, keys %blockdata)) {
  seek $c, $off, 0;
  print $c (exists $locdata{$off} ? $locdata{$off} . "\0" x (512 - length $locdata{$off}) : $blockdata{$off});
}
print $c $foot;
close $c or die "$child: $!\n";
