"""Pixel sizes from PNG and JPEG headers, so the tests need no imaging library."""

import struct


def dimensions(data: bytes):
    """(width, height) of PNG or JPEG bytes; raises ValueError otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
    raise ValueError("not a PNG or JPEG")


def png_size(path):
    """(width, height) of the PNG file at `path`; fails the test if it is not a PNG."""
    from pathlib import Path

    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])
