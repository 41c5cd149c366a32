#!/usr/bin/perl
# vhdx-log.pl FILE [bad]: give a dynamic VHDX made by qemu-img (1 MiB
# blocks, its first block present, its fourth not) a log to replay, as
# [MS-VHDX] 2.3 lays logs out, and set both headers' LogGuid to it.  The
# active sequence has two entries: the first writes a page into block 0,
# zeroes 8 KiB of it, allocates block 3 past the file's end (its BAT page
# and its last page of data: the file grows to LastFileOffset); the second
# overwrites the first's page again.  A third entry with a later sequence
# number but a broken checksum must be ignored.  bad: the second entry's
# data sector loses its sequence number (then the first entry alone is the
# active sequence: the head with the highest number whose run is whole).
use strict;
use warnings;
my ($file, $bad) = @ARGV;
open my $f, '+<:raw', $file or die "$file: $!\n";
sub rd { my ($o, $n) = @_; my $b; seek $f, $o, 0; read ($f, $b, $n) == $n or die "short read\n"; $b }
sub wr { my ($o, $b) = @_; seek $f, $o, 0; print $f $b }
my @t = map { my $c = $_; $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8; $c } 0 .. 255;
sub crc32c { my $c = 0xFFFFFFFF; $c = $t[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', shift; $c ^ 0xFFFFFFFF }
my $MIB = 1 << 20;
my $size = -s $file;
# The current header (the higher sequence number), its log region.
my @h = map { rd ($_, 4096) } 65536, 131072;
my $cur = (unpack ('Q<', substr $h[0], 8, 8) >= unpack ('Q<', substr $h[1], 8, 8)) ? 0 : 1;
my ($llen, $loff) = unpack 'V Q<', substr $h[$cur], 68, 12;
die "no log region\n" unless $llen && $loff;
# The BAT (region table 1) and block 0's file offset.
my $rt = rd (196608, 65536);
my $batguid = pack 'H*', '6677c22d23f600429d64115e9bfd4a08';
my ($bat) = map { unpack 'Q<', substr $rt, 16 + 32 * $_ + 16, 8 }
            grep { substr ($rt, 16 + 32 * $_, 16) eq $batguid } 0 .. unpack ('V', substr $rt, 8, 4) - 1;
my $e0 = unpack 'Q<', rd ($bat, 8);
($e0 & 7) == 6 or die "block 0 is not present\n";
my $b0 = ($e0 >> 20) * $MIB;
(unpack ('Q<', rd ($bat + 8 * 3, 8)) & 7) != 6 or die "block 3 is present\n";
my $new = ($size + $MIB - 1) & ~($MIB - 1);         # block 3's place, past the end
my $batpage = $bat;                                  # entry 3 lies in the BAT's first page
my $page = rd ($batpage, 4096);
substr ($page, 8 * 3, 8) = pack 'Q<', (($new / $MIB) << 20) | 6;
my $guid = pack 'H*', '0123456789abcdef0123456789abcdef';

sub entry {   # entry SEQ TAIL FLUSHED LAST [[data OFF PAGE] | [zero OFF LEN]]...
  my ($seq, $tail, $flushed, $last, @d) = @_;
  my $ndata = grep { $_->[0] eq 'data' } @d;
  my $dsec = int ((64 + 32 * @d + 4095) / 4096);
  my $len = ($dsec + $ndata) * 4096;
  my $e = "\0" x $len;
  substr ($e, 0, 64) = 'loge' . pack ('V V V Q< V V', 0, $len, $tail, $seq, scalar @d, 0)
                       . $guid . pack ('Q< Q<', $flushed, $last);
  my $k = 0;
  for my $i (0 .. $#d) {
    my ($kind, $off, $x) = @{$d[$i]};
    if ($kind eq 'zero') {
      substr ($e, 64 + 32 * $i, 32) = 'zero' . pack ('V Q< Q< Q<', 0, $x, $off, $seq);
    } else {
      substr ($e, 64 + 32 * $i, 32) = 'desc' . substr ($x, 4092, 4) . substr ($x, 0, 8) . pack ('Q< Q<', $off, $seq);
      substr ($e, ($dsec + $k) * 4096, 4096) = 'data' . pack ('V', $seq >> 32) . substr ($x, 8, 4084) . pack ('V', $seq & 0xffffffff);
      $k++;
    }
  }
  substr ($e, 4, 4) = pack 'V', crc32c ($e);
  $e;
}
my $seq = 4294967303;                             # high and low halves both non-zero
my $one = entry ($seq, 0, $size, $new + $MIB,
                 [ 'data', $b0 + 8192, 'L' x 4096 ], [ 'zero', $b0 + 65536, 8192 ],
                 [ 'data', $batpage, $page ], [ 'data', $new + $MIB - 4096, 'N' x 4096 ]);
my $two = entry ($seq + 1, 0, $size, $new + $MIB, [ 'data', $b0 + 8192, 'M' x 4096 ]);
if ($bad) {   # the data sector's sequence number no longer matches
  substr ($two, 4096 + 4092, 4) = pack 'V', 0;
  substr ($two, 4, 4) = "\0\0\0\0";
  substr ($two, 4, 4) = pack 'V', crc32c ($two);
}
my $three = entry ($seq + 2, 0, $size, $new + $MIB, [ 'data', $b0, 'X' x 4096 ]);
substr ($three, 100, 1) = 'x';                       # its checksum fails
my $log = $one . $two . $three;
length ($log) <= $llen or die "log too small\n";
wr ($loff, $log . "\0" x ($llen - length $log));
for my $i (0, 1) {
  my $b = $h[$i];
  substr $b, 48, 16, $guid;
  substr $b, 4, 4, "\0\0\0\0";
  substr $b, 4, 4, pack 'V', crc32c ($b);
  wr (65536 * ($i + 1), $b);
}
close $f or die;
