#!/usr/bin/python3
# sparse-cmp.py A B: exit 0 when the two files hold the same bytes, 1 (with
# the first differing offset) when not.  Like cmp, but the ranges that are
# holes in both files (zeros by definition) are not read, so comparing
# two mostly sparse 4 GiB disks costs what their data costs.
import os
import sys


def data_ranges(fd, size):
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:          # ENXIO: no data past off
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, min(end, size)
        off = end


a, b = sys.argv[1], sys.argv[2]
fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
size = os.fstat(fa).st_size
if os.fstat(fb).st_size != size:
    print(f"{a} {b}: sizes differ", file=sys.stderr)
    sys.exit(1)
# The union of both files' data ranges, merged.
ranges = sorted(list(data_ranges(fa, size)) + list(data_ranges(fb, size)))
merged = []
for s, e in ranges:
    if merged and s <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], e)
    else:
        merged.append([s, e])
step = 1 << 20
for s, e in merged:
    off = s
    while off < e:
        n = min(step, e - off)
        x, y = os.pread(fa, n, off), os.pread(fb, n, off)
        if x != y:
            i = next(k for k in range(len(x)) if x[k] != y[k])
            print(f"{a} {b} differ: byte {off + i + 1}", file=sys.stderr)
            sys.exit(1)
        off += n
