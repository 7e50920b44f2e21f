"""compare-npy.py A.npy B.npy TOL: exit 1 unless the float32 arrays have
one shape and max|A - B| <= TOL * max|A|; prints the measured ratio.
(No numpy: the test's python may not have it.)"""
import ast
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    if data[:6] != b"\x93NUMPY":
        sys.exit("%s: not a .npy file" % path)
    length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"]:
        sys.exit("%s: expected C-order float32" % path)
    body = data[10 + length:]
    return header["shape"], struct.unpack("<%df" % (len(body) // 4), body)


(sa, a), (sb, b) = load(sys.argv[1]), load(sys.argv[2])
if sa != sb:
    sys.exit("shapes differ: %s vs %s" % (sa, sb))
ratio = max(abs(x - y) for x, y in zip(a, b)) / max(max(abs(x) for x in a), 1e-30)
print("max |a - b| / max |a| = %.3g" % ratio)
sys.exit(0 if ratio <= float(sys.argv[3]) else 1)
