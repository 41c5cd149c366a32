#!/usr/bin/perl
# regfexport-records.pl EXPORT: libregf's regfexport output as records,
# one per line: "K \path" for a key, "V \path|name|type|size|data..." for
# a value (the path without the root key's name).
# regfexport-records.pl --explain DROPPED LOST: every record of LOST (what
# a repaired hive lacks) lies under something DROPPED (winseal's list of
# what --repair-hives dropped) names; prints each one that does not and
# exits 1 if any.
use strict;
use warnings;

if (@ARGV && $ARGV[0] eq '--explain') {
  my (undef, $dropped, $lost) = @ARGV;
  open my $d, '<', $dropped or die "$dropped: $!\n";
  my (%sub, %val, %anyval);
  while (<$d>) {
    chomp;
    # The root key is "\\" in the list, "" in the records.
    my $k = sub { my $p = shift; $p eq '\\' ? '' : $p };
    if (/^(.*)\\\?: a subkey / || /^(.*)\\[^\\]*\.\.\.: a subkey / || /^(.*)\\\.\.\.: the keys below/) { $sub{$1} = 1 }
    elsif (/^(.*): its \d+ subkeys? / || /^(.*): its subkeys in one part /) { $sub{$k->($1)} = 1 }
    elsif (/^(.*): value '(.*)' \(/) { $val{$k->($1) . "|$2"} = 1 }
    elsif (/^(.*): value \(default\) \(/) { $val{$k->($1) . "|"} = 1 }
    elsif (/^(.*): (a value|its \d+ values?) \(/) { $anyval{$k->($1)} = 1 }
    elsif (/^(.*): its (security descriptor|class name) \(/) { }
    else { print "not understood: $_\n"; exit 1 }
  }
  # Is a key at path p gone because a list of one of its ancestors lost it?
  my $under = sub {
    my $p = shift;
    while ($p =~ s/\\[^\\]*$//) { return 1 if $sub{$p} }
    return 0;
  };
  open my $m, '<', $lost or die "$lost: $!\n";
  my $bad = 0;
  while (<$m>) {
    chomp;
    if (/^K (.*)/) {
      next if $under->($1);
      print "lost but not listed: key $1\n";
      $bad++;
    }
    elsif (/^V ([^|]*)\|([^|]*)/) {
      next if $val{"$1|$2"} || $anyval{$1} || $under->($1);
      print "lost but not listed: value $2 of $1\n";
      $bad++;
    }
  }
  exit ($bad ? 1 : 0);
}

my ($path, $v);
sub flush { if (defined $v) { print "V $v\n"; undef $v } }
while (<>) {
  chomp;
  if (/^Key path: (.*)/) { flush; $path = $1; $path =~ s/^[^\\]*//; print "K $path\n"; next }
  if (/^Value: \d+ ?(.*)/) { flush; $v = "$path|$1"; next }
  if (defined $v && /^(Type|Data size|Data): ?(.*)/) { $v .= "|$2"; next }
  if (defined $v && /^[0-9a-f]{8}: /) { $v .= "|$_"; next }
  flush if /^$/;
}
flush;
