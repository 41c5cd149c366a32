#!/usr/bin/perl
# Build a differencing VHDX by [MS-VHDX] over a parent VHDX, and the raw
# disk a reader must see through it: the parent's raw content (PARENT_RAW)
# with the child's blocks laid over it as their BAT states and the sector
# bitmaps say.
#
#   vhdx-diff.pl [--rel PATH] [--vol PATH] [--abs PATH] [--linkage GUID]
#                [--no-bitmap] [--no-zero-states] [--tag N] [--data RAW] PARENT.vhdx PARENT_RAW CHILD.vhdx EXPECTED_RAW
#
# The child has 1 MiB blocks and 512-byte sectors; its parent locator
# (2.6.2.6.3) carries parent_linkage (the parent's DataWriteGuid, or
# --linkage) and the paths given (--rel ".\\p.vhdx" by default when none
# is).  The first eight blocks of every 4 GiB chunk (each chunk has its
# own sector bitmap block, 2.4) are, in order: not present (the parent's),
# fully present, partially present (runs of one to four sectors), zero,
# partially present with no sector of its own, not present, partially
# present with every sector its own, undefined; the rest are not present.
# The child's payload bytes are written in full also where the bitmap
# says the parent's, so a reader that ignores the bitmap is caught.
# --no-bitmap: the sector bitmap entries stay SB_BLOCK_NOT_PRESENT (a
# broken file: its partially present blocks have no bitmap).
# --tag N: another child's layout and bytes (the block plan turned by N,
# other fill bytes, another DataWriteGuid), for a child of a child.
# --data RAW: the child's payload bytes are RAW's (a disk of the parent's
# size) instead of a pattern: with RAW the parent's own content, the
# child's disk is the parent's, whichever sectors it holds.
# --no-zero-states: the zero and undefined blocks are not present instead
# (libvhdi 20210425 reads those states through to the parent, where the
# specification defines a zero block's contents as zeros).
use strict;
use warnings;
use Getopt::Long;

my ($rel, $vol, $abs, $linkage, $nobitmap, $nozero);
my $tag = 0;
my $data;
GetOptions ('rel=s' => \$rel, 'vol=s' => \$vol, 'abs=s' => \$abs, 'linkage=s' => \$linkage,
            'no-bitmap' => \$nobitmap, 'no-zero-states' => \$nozero,
            'tag=i' => \$tag, 'data=s' => \$data) or die "usage\n";
my ($pvhdx, $praw, $child, $expect) = @ARGV;
die "usage: vhdx-diff.pl [opts] PARENT.vhdx PARENT_RAW CHILD.vhdx EXPECTED_RAW\n" unless defined $expect;
$rel = '.\\p.vhdx' unless defined $rel || defined $vol || defined $abs;

my @t = map { my $c = $_; $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8; $c } 0 .. 255;
sub crc32c { my $c = 0xFFFFFFFF; $c = $t[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', shift; $c ^ 0xFFFFFFFF }
sub guid { my $s = shift; $s =~ tr/{}-//d; my @h = unpack 'A8 A4 A4 A16', $s;
           pack ('V v v', hex $h[0], hex $h[1], hex $h[2]) . pack ('H*', $h[3]) }
sub guid_str { my ($a, $b, $c) = unpack 'V v v', $_[0];
               my $d = unpack 'H*', substr $_[0], 8;
               sprintf '{%08x-%04x-%04x-%s-%s}', $a, $b, $c, substr ($d, 0, 4), substr ($d, 4) }
sub utf16 { join '', map { pack 'v', ord } split //, shift }

my $MIB = 1 << 20;
my $BS = $MIB;
my $SECT = 512;
my $size = -s $praw or die "$praw: empty or missing\n";
$size % $SECT == 0 or die "$praw: not whole sectors\n";

# The parent's DataWriteGuid: its current header's (the valid one with
# the higher sequence number; both checked by their CRC-32C).
open my $p, '<:raw', $pvhdx or die "$pvhdx: $!\n";
my ($best, $dwg);
for my $o (65536, 131072) {
  seek $p, $o, 0;
  read ($p, my $h, 4096) == 4096 or die "$pvhdx: short\n";
  my $c = unpack 'V', substr $h, 4, 4;
  substr $h, 4, 4, "\0\0\0\0";
  next unless substr ($h, 0, 4) eq 'head' && crc32c ($h) == $c;
  my $seq = unpack 'Q<', substr $h, 8, 8;
  ($best, $dwg) = ($seq, substr $h, 32, 16) if !defined $best || $seq > $best;
}
close $p;
defined $dwg or die "$pvhdx: no valid header\n";
$linkage //= guid_str ($dwg);

my $blocks = int (($size + $BS - 1) / $BS);
my $chunk = (1 << 23) * $SECT / $BS;                  # 4096 blocks a bitmap block
my $nsb = int (($blocks + $chunk - 1) / $chunk);
my $entries = $nsb * ($chunk + 1);                    # 2.5: differencing BAT size
my ($LOG, $META, $BAT) = (1 * $MIB, 2 * $MIB, 3 * $MIB);
my $batlen = int (($entries * 8 + $MIB - 1) / $MIB) * $MIB;
my $next = $BAT + $batlen;

my @plan = qw(np full part zero part0 np part1 undef);
@plan = map { /zero|undef/ ? 'np' : $_ } @plan if $nozero;
my (%state, %bits);
for my $b (0 .. $blocks - 1) {
  my $k = $b % $chunk;
  my $s = $k < @plan ? $plan[($k + $tag) % @plan] : 'np';
  $state{$b} = $s;
}
sub own_bit {      # is sector k of block b the child's?
  my ($b, $k) = @_;
  my $s = $state{$b};
  return $s eq 'full' || $s eq 'part1' ? 1 : $s eq 'part' ? ((($k * 5 + $b) % 7) < 3 ? 1 : 0) : 0;
}
my $dfh;
if (defined $data) { open $dfh, '<:raw', $data or die "$data: $!\n"; -s $data == $size or die "$data: not the parent's size\n" }
sub sector_data {  # the child's bytes for sector k of block b
  my ($b, $k) = @_;
  if ($dfh) { seek $dfh, $b * $BS + $k * $SECT, 0; read ($dfh, my $x, $SECT) == $SECT or die "$data: short\n"; return $x }
  pack ('Q< Q<', $b, $k) . chr (0x41 + ($b + 7 * $tag) % 26) x ($SECT - 16);
}

open my $c, '+>:raw', $child or die "$child: $!\n";
sub wr { my ($o, $d) = @_; seek $c, $o, 0; print $c $d or die "$child: $!\n" }
# The parent's content, copied sparsely (cp seeks past its holes).
system ('cp', '--sparse=always', $praw, $expect) == 0 or die "cp $praw: failed\n";
open my $e, '+<:raw', $expect or die "$expect: $!\n";
sub ewr { my ($o, $d) = @_; seek $e, $o, 0; print $e $d or die "$expect: $!\n" }

my $bat = "\0" x ($entries * 8);
my @sb = map { "\0" x $MIB } 1 .. $nsb;
my %used;
for my $b (sort { $a <=> $b } keys %state) {
  my $s = $state{$b};
  next if $s eq 'np';
  my $bi = $b + int ($b / $chunk);
  my $vo = $b * $BS;
  my $len = $size - $vo < $BS ? $size - $vo : $BS;
  if ($s eq 'zero' || $s eq 'undef') {
    substr ($bat, 8 * $bi, 8) = pack 'Q<', $s eq 'zero' ? 2 : 1;
    ewr ($vo, "\0" x $len);            # zero: the parent does not show through
    next;
  }
  my $fo = $next;
  $next += $BS;
  substr ($bat, 8 * $bi, 8) = pack 'Q<', (($fo / $MIB) << 20) | ($s eq 'full' ? 6 : 7);
  my $data = join '', map { sector_data ($b, $_) } 0 .. $len / $SECT - 1;
  wr ($fo, $data);
  for my $k (0 .. $len / $SECT - 1) {
    my $own = own_bit ($b, $k);
    ewr ($vo + $k * $SECT, substr ($data, $k * $SECT, $SECT)) if $own;
    next unless $own && $s ne 'full';
    # Bit 0 of byte 0 is the chunk's first sector (2.4).
    my $cs = ($b % $chunk) * ($BS / $SECT) + $k;
    vec ($sb[int ($b / $chunk)], $cs, 1) = 1;
  }
  $used{int ($b / $chunk)} = 1;
}
for my $i (sort keys %used) {
  next if $nobitmap;
  my $fo = $next;
  $next += $MIB;
  wr ($fo, $sb[$i]);
  substr ($bat, 8 * ($i * ($chunk + 1) + $chunk), 8) = pack 'Q<', (($fo / $MIB) << 20) | 6;
}
wr ($BAT, $bat . "\0" x ($batlen - length $bat));

# Metadata (2.6): the table, then the items from 64 KiB.
my @kv;
push @kv, [ 'parent_linkage', $linkage ];
push @kv, [ 'relative_path', $rel ] if defined $rel;
push @kv, [ 'volume_path', $vol ] if defined $vol;
push @kv, [ 'absolute_win32_path', $abs ] if defined $abs;
my $loc = guid ('B04AEFB7-D19E-4A81-B789-25B8E9445913') . pack ('v v', 0, scalar @kv);
my $strs = '';
my $base = 20 + 12 * @kv;
for my $x (@kv) {
  my ($k, $v) = (utf16 ($x->[0]), utf16 ($x->[1]));
  $loc .= pack 'V V v v', $base + length $strs, $base + length ($strs) + length $k,
                          length $k, length $v;
  $strs .= $k . $v;
}
$loc .= $strs;
my $disk_id = pack 'H*', '5a5a5a5a0102030405060708090a0b0c';
my @items = (
  [ 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B', pack ('V V', $BS, 2), 4 ],         # HasParent
  [ '2FA54224-CD1B-4876-B211-5DBED83BF4B8', pack ('Q<', $size), 6 ],
  [ 'BECA12AB-B2E6-4523-93EF-C309E000C746', $disk_id, 6 ],
  [ '8141BF1D-A96F-4709-BA47-F233A8FAAB5F', pack ('V', $SECT), 6 ],
  [ 'CDA348C7-445D-4471-9CC9-E9885251C556', pack ('V', 4096), 6 ],
  [ 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C', $loc, 4 ],
);
my $mt = 'metadata' . pack ('v v', 0, scalar @items) . "\0" x 20;
my $io = 65536;
my $mdata = '';
for my $it (@items) {
  my ($g, $v, $fl) = @$it;
  $mt .= guid ($g) . pack ('V V V V', $io + length $mdata, length $v, $fl, 0);
  $mdata .= $v . "\0" x ((8 - length ($v) % 8) % 8);
}
wr ($META, $mt . "\0" x (65536 - length $mt) . $mdata);
wr ($META + $MIB - 1, "\0");

# Region tables (2.2.3) and headers (2.2.2), then the file identifier.
my $rt = 'regi' . pack ('V V V', 0, 2, 0)
  . guid ('2DC27766-F623-4200-9D64-115E9BFD4A08') . pack ('Q< V V', $BAT, $batlen, 1)
  . guid ('8B7CA206-4790-4B9A-B8FE-575F050F886E') . pack ('Q< V V', $META, $MIB, 1);
$rt .= "\0" x (65536 - length $rt);
substr ($rt, 4, 4) = pack 'V', crc32c ($rt);
wr (196608, $rt);
wr (262144, $rt);
for my $i (0, 1) {
  my $h = 'head' . pack ('V Q<', 0, 10 + $i)
    . pack ('H*', '11111111222233334444555555555555')           # FileWriteGuid
    . pack ('H*', sprintf ('aaaaaaaabbbbccccdddd%012x', $tag))      # DataWriteGuid
    . "\0" x 16 . pack ('v v V Q<', 0, 1, $MIB, $LOG);
  $h .= "\0" x (4096 - length $h);
  substr ($h, 4, 4) = pack 'V', crc32c ($h);
  wr (65536 * ($i + 1), $h);
}
wr (0, 'vhdxfile' . utf16 ('winseal tests/vhdx-diff.pl'));
wr ($LOG + $MIB - 1, "\0");
close $c or die "$child: $!\n";
close $e or die "$expect: $!\n";
