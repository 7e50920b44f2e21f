"""Writes a binary ONNX model Y[M,N] = X[M,K] @ W[K,N] with a random float
weight, without the onnx package (the protobuf fields are written by hand):

    matmul-onnx.py OUT M K N

Large weights (8192 x 28672 is 940 MB) are a 1 MiB random block repeated:
enough for timing, fast to write."""
import os
import random
import struct
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from onnxproto import field, value_info, varint  # noqa: E402


def main():
    out, m, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    random.seed(1)
    block_values = 1 << 18
    block = struct.pack("<%df" % block_values,
                        *[random.uniform(-1, 1) for _ in range(block_values)])
    count = k * n
    raw_len = count * 4
    reps, rest = divmod(count, block_values)
    tensor_head = (field(1, 0, k) + field(1, 0, n) + field(2, 0, 1) +
                   field(8, 2, b"W"))
    raw_key = varint((9 << 3) | 2) + varint(raw_len)
    tensor_len = len(tensor_head) + len(raw_key) + raw_len
    node = (field(1, 2, b"X") + field(1, 2, b"W") + field(2, 2, b"Y") +
            field(3, 2, b"MatMul_0") + field(4, 2, b"MatMul"))
    graph_head = field(1, 2, node) + field(2, 2, b"g")
    init_key = varint((5 << 3) | 2) + varint(tensor_len)
    graph_tail = (field(11, 2, value_info("X", [m, k])) +
                  field(12, 2, value_info("Y", [m, n])))
    graph_len = len(graph_head) + len(init_key) + tensor_len + len(graph_tail)
    opset = field(8, 2, field(1, 2, b"") + field(2, 0, 14))
    with open(out, "wb") as f:
        f.write(field(1, 0, 8) + opset)
        f.write(varint((7 << 3) | 2) + varint(graph_len))
        f.write(graph_head + init_key + tensor_head + raw_key)
        for _ in range(reps):
            f.write(block)
        f.write(block[:rest * 4])
        f.write(graph_tail)


if __name__ == "__main__":
    main()
