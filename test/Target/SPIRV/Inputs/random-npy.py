"""Writes a float32 .npy of uniform(-1, 1) values: random-npy.py OUT 4x32 SEED.

The tests need inputs without depending on numpy."""
import random
import struct
import sys


def save(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d," % d for d in shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


if __name__ == "__main__":
    shape = [int(d) for d in sys.argv[2].split("x")]
    random.seed(int(sys.argv[3]))
    count = 1
    for d in shape:
        count *= d
    save(sys.argv[1], shape, [random.uniform(-1, 1) for _ in range(count)])
