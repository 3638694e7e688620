"""Screenshots as PNG without an imaging library.

libvirt hands over whatever QEMU's screendump wrote: PNG on QEMU builds that support it,
otherwise binary PPM (P6). ``to_png`` converts P6 to an 8-bit RGB PNG with zlib.
"""

from __future__ import annotations

import struct
import zlib

from harness.errors import InfraError


def _ppm_fields(data: bytes) -> tuple[int, int, int, int]:
    """Parse a P6 header; return width, height, maxval and the offset of the pixels."""
    fields: list[int] = []
    pos = 2
    while len(fields) < 3:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while pos < len(data) and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise InfraError("screenshot: malformed PPM header")
        fields.append(int(data[start:pos]))
    return fields[0], fields[1], fields[2], pos + 1  # one whitespace byte ends the header


def to_png(data: bytes) -> bytes:
    """Convert a binary PPM (P6, maxval 255) image to PNG bytes.

    Raises:
        InfraError: not a P6 image, or one this converter does not handle.
    """
    if data[:2] != b"P6":
        raise InfraError(f"screenshot: not a PPM image (starts {data[:8]!r})")
    width, height, maxval, offset = _ppm_fields(data)
    if maxval != 255:
        raise InfraError(f"screenshot: PPM maxval {maxval}, only 255 handled")
    row = width * 3
    pixels = data[offset:offset + row * height]
    if len(pixels) != row * height:
        raise InfraError("screenshot: PPM pixel data truncated")
    raw = b"".join(b"\0" + pixels[y * row:(y + 1) * row] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
