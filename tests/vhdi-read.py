#!/usr/bin/python3
# vhdi-read.py OUT CHILD [PARENT ...]: libvhdi's reading (pyvhdi, Debian's
# python3-libvhdi) of a VHD or VHDX chain, child first, written to OUT as a
# sparse raw file: an oracle independent of winseal's readers that needs
# no FUSE (vhdimount does).
import sys
import pyvhdi

out_path, paths = sys.argv[1], sys.argv[2:]
files = []
for p in paths:
    f = pyvhdi.file()
    f.open(p)
    files.append(f)
for child, parent in zip(files, files[1:]):
    child.set_parent(parent)
top = files[0]
size, step = top.media_size, 1 << 20
zero = bytes(step)
with open(out_path, 'wb') as out:
    off = 0
    while off < size:
        b = top.read_buffer_at_offset(min(step, size - off), off)
        if b != zero[:len(b)]:
            out.seek(off)
            out.write(b)
        off += step
    out.truncate(size)
