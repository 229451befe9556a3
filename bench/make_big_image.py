#!/usr/bin/env python3
"""Writes a large test photo for timing `emkit segment`: the bundled
data/chelsea.png (451 x 300) upscaled by nearest neighbour to WIDTH x HEIGHT
(default 4000 x 3000 = 12 megapixels), as an 8-bit RGB PNG.

Standard library only (zlib), so it runs on a fresh machine:
    python3 bench/make_big_image.py target/big.png [WIDTH HEIGHT]
"""
import struct
import sys
import zlib
from pathlib import Path


def read_png_rgb8(path):
    """Decodes a non-interlaced 8-bit RGB PNG into (width, height, rows of bytes)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, _, _, interlace = header
    assert (depth, color, interlace) == (8, 2, 0), "expects 8-bit RGB, not interlaced"
    raw, stride, bpp = zlib.decompress(idat), 3 * width, 3
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (row[i] + pred) & 255
        rows.append(bytes(row))
        prev = row
    return width, height, rows


def write_png_rgb8(path, width, height, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + r for r in rows)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def main():
    out = sys.argv[1]
    width, height = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (4000, 3000)
    src = Path(__file__).resolve().parent.parent / "data" / "chelsea.png"
    w0, h0, rows0 = read_png_rgb8(src)
    xs = [x * w0 // width for x in range(width)]
    cache = {}
    rows = []
    for y in range(height):
        y0 = y * h0 // height
        if y0 not in cache:
            r = rows0[y0]
            cache[y0] = b"".join(r[3 * x : 3 * x + 3] for x in xs)
        rows.append(cache[y0])
    write_png_rgb8(out, width, height, rows)
    print(f"{out}: {width} x {height} = {width * height} pixels", file=sys.stderr)


if __name__ == "__main__":
    main()
