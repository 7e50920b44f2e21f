"""Helpers of the input generators in this folder (no numpy): float32 .npy
files and rounding to float32."""
import struct


def write_npy(path, shape, values):
    """Writes `values` (a flat list) as a little-endian float32 .npy file of
    `shape`."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d, " % d for d in shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) +
                header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def f32(v):
    """`v` rounded to the nearest float32."""
    return struct.unpack("<f", struct.pack("<f", v))[0]
