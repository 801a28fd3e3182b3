"""Just enough PNG decoding to look at a browser screenshot (8-bit RGB/RGBA, not interlaced): no Pillow."""

from __future__ import annotations

import struct
import zlib
from itertools import accumulate
from pathlib import Path


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """(a[i] + b[i]) mod 256 for every byte, as one big-integer operation."""
    n = len(a)
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    high = int.from_bytes(b"\x80" * n, "big")
    low = high ^ int.from_bytes(b"\xff" * n, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(n, "big")


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, pixels row by row as RGB tuples)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color_type}, interlace {interlace}")
    channels = 3 if color_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows: list[bytes] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 2:  # Up: bytewise add of the previous row, done on big integers (no carry between bytes)
            line = bytearray(_add_bytes(bytes(line), bytes(previous)))
        elif kind == 1:  # Sub: running sum per channel
            for c in range(channels):
                line[c::channels] = bytes(accumulate(line[c::channels], lambda a, b: (a + b) & 0xFF))
        elif kind in (3, 4):
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up = previous[i]
                if kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 0xFF
                    continue
                up_left = previous[i - channels] if i >= channels else 0
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    pixels = [tuple(line[i:i + 3]) for line in rows for i in range(0, stride, channels)]
    return width, height, pixels
