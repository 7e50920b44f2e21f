"""Writes a binary ONNX model of L independent com.microsoft MatMulNBits
products of one input, Y_i[1, N] = X[1, K] @ dequant(B_i)^T, with random
4-bit weights (no zero points: codes offset by 8) and random block scales,
without the onnx package (the protobuf fields are written by hand), and a
random input X as .npy:

    matmulnbits-onnx.py OUT.onnx X.npy K N BLOCK LAYERS ACCURACY_LEVEL

L layers make the model's weights larger than the last-level cache, so
every run streams them from DRAM. The weights are seeded: the same
arguments write the same model, whatever the accuracy level."""
import os
import random
import struct
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnxproto import field, value_info, varint  # noqa: E402


def tensor(name, dims, data_type, raw):
    return (b"".join(field(1, 0, d) for d in dims) + field(2, 0, data_type) +
            field(8, 2, name.encode()) + field(9, 2, raw))


def int_attr(name, value):
    return field(1, 2, name.encode()) + field(3, 0, value) + field(20, 0, 2)


def npy(path, dims, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d, " % d for d in dims))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") +
                header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def main():
    out, xpath = sys.argv[1], sys.argv[2]
    k, n, block, layers, level = (int(a) for a in sys.argv[3:8])
    rng = random.Random(k * 131 + n * 7 + block)
    blocks = (k + block - 1) // block
    nodes, inits, outputs = [], [], []
    for i in range(layers):
        codes = rng.randbytes(n * blocks * block // 2)
        scales = struct.pack("<%df" % (n * blocks),
                             *[rng.uniform(0.005, 0.02) for _ in range(n * blocks)])
        inits.append(tensor("B%d" % i, [n, blocks, block // 2], 2, codes))
        inits.append(tensor("S%d" % i, [n * blocks], 1, scales))
        attrs = [int_attr("K", k), int_attr("N", n), int_attr("bits", 4),
                 int_attr("block_size", block), int_attr("accuracy_level", level)]
        nodes.append(field(1, 2, b"X") + field(1, 2, b"B%d" % i) +
                     field(1, 2, b"S%d" % i) + field(2, 2, b"Y%d" % i) +
                     field(3, 2, b"MatMulNBits_%d" % i) +
                     field(4, 2, b"MatMulNBits") +
                     b"".join(field(5, 2, a) for a in attrs) +
                     field(7, 2, b"com.microsoft"))
        outputs.append(value_info("Y%d" % i, [1, n]))
    graph = (b"".join(field(1, 2, nd) for nd in nodes) + field(2, 2, b"g") +
             b"".join(field(5, 2, t) for t in inits) +
             field(11, 2, value_info("X", [1, k])) +
             b"".join(field(12, 2, o) for o in outputs))
    opsets = (field(8, 2, field(1, 2, b"") + field(2, 0, 17)) +
              field(8, 2, field(1, 2, b"com.microsoft") + field(2, 0, 1)))
    with open(out, "wb") as f:
        f.write(field(1, 0, 8) + opsets + field(7, 2, graph))
    npy(xpath, [1, k], [rng.gauss(0, 1) for _ in range(k)])


if __name__ == "__main__":
    main()
