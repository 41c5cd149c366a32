#!/usr/bin/perl
# The checks a strict VMDK importer makes before it accepts an upload
# (modelled on OpenStack's image format inspector, oslo.utils
# imageutils.format_inspector, VMDKInspector: a sparse header, a
# descriptor of plain ASCII, an allowed createType, extents that are the
# file itself), on a monolithic VMDK: one line of what fails, exit 1.
#   vmdk-check.pl FILE.vmdk
use strict;
use warnings;
my $f = shift or die "usage: vmdk-check.pl FILE.vmdk\n";
open my $h, '<:raw', $f or die "$f: $!\n";
my $size = -s $f;
sub bad { print STDERR "$f: $_[0]\n"; exit 1 }
read ($h, my $hd, 512) == 512 or bad "shorter than a header";
my ($magic, $version, $flags, $cap, $grain, $doff, $dlen, $ngte, $rgd, $gd, $over)
  = unpack 'a4 V V Q< Q< Q< Q< V Q< Q< Q<', $hd;
$magic eq 'KDMV' or bad "no KDMV magic";
$version >= 1 && $version <= 3 or bad "version $version";
$grain >= 8 && ($grain & ($grain - 1)) == 0 or bad "grain of $grain sectors";
$ngte == 512 or bad "$ngte grain table entries (importers want 512)";
$doff > 0 && $dlen > 0 && ($doff + $dlen) * 512 <= $size or bad "descriptor outside the file";
substr ($hd, 56, 8) eq "\xff" x 8 || ($gd > 0 && $gd * 512 < $size) or bad "grain directory at sector $gd";
substr ($hd, 73, 4) eq "\n \r\n" or bad "the newline-detection bytes are damaged";
seek $h, $doff * 512, 0;
read $h, my $desc, $dlen * 512;
$desc =~ s/\0+\z//;
$desc =~ /[^\x09\x0a\x0d\x20-\x7e]/ and bad sprintf "descriptor byte 0x%02x is not plain ASCII", ord $&;
$desc =~ /^createType="(monolithicSparse|streamOptimized)"$/m or bad "createType is not monolithicSparse or streamOptimized";
my @ext = $desc =~ /^((?:RW|RDONLY|NOACCESS) .*)$/mg;
@ext == 1 or bad scalar (@ext) . " extent lines (one is allowed)";
$ext[0] =~ /^RW (\d+) SPARSE "([A-Za-z0-9._+-]+)"$/ or bad "extent line '$ext[0]' is not RW N SPARSE \"plain-name\"";
$1 == $cap or bad "the extent's $1 sectors are not the header's capacity $cap";
$desc =~ /^parentCID=ffffffff$/m or bad "the disk has a parent";
print "$f: ok\n";
