#!/usr/bin/perl
# vhdx-patch.pl FILE log|parent: make a qemu-img VHDX one winseal must
# refuse, independently of winseal's reader.  log: both headers get a
# non-zero LogGuid (writes pending in the log), their CRC-32C recomputed
# (MS-VHDX 2.2.2); parent: the file parameters' HasParent flag is set
# (2.6.2.1; metadata items carry no checksum).
use strict;
use warnings;
my ($file, $what) = @ARGV;
open my $f, '+<:raw', $file or die "$file: $!\n";
sub rd { my ($o, $n) = @_; my $b; seek $f, $o, 0; read $f, $b, $n; $b }
sub wr { my ($o, $b) = @_; seek $f, $o, 0; print $f $b }
my @t = map { my $c = $_; $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8; $c } 0 .. 255;
sub crc32c { my $c = 0xFFFFFFFF; $c = $t[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', shift; $c ^ 0xFFFFFFFF }
if ($what eq 'log') {
  for my $h (65536, 131072) {
    my $b = rd ($h, 4096);
    substr $b, 48, 16, "\x11" x 16;
    substr $b, 4, 4, "\0\0\0\0";
    substr $b, 4, 4, pack 'V', crc32c ($b);
    wr ($h, $b);
  }
} elsif ($what eq 'parent') {
  my $rt = rd (196608, 65536);
  my $mguid = pack 'H*', '06a27c8b90479a4bb8fe575f050f886e';
  my $fguid = pack 'H*', '3767a1ca36fa434db3b633f0aa44e76b';
  my ($moff) = map { unpack 'Q<', substr $rt, 16 + 32 * $_ + 16, 8 }
               grep { substr ($rt, 16 + 32 * $_, 16) eq $mguid } 0 .. unpack ('V', substr $rt, 8, 4) - 1;
  die "no metadata region\n" unless $moff;
  my $mt = rd ($moff, 65536);
  for my $i (0 .. unpack ('v', substr $mt, 10, 2) - 1) {
    next unless substr ($mt, 32 + 32 * $i, 16) eq $fguid;
    my $io = $moff + unpack 'V', substr $mt, 32 + 32 * $i + 16, 4;
    my $flags = unpack 'V', rd ($io + 4, 4);
    wr ($io + 4, pack 'V', $flags | 2);
    exit 0;
  }
  die "no file parameters\n";
} else { die "usage: vhdx-patch.pl FILE log|parent\n" }
