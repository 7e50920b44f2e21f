"""Writes a small two-matmul MLP (mlp.onnxtxt) and float samples for it
(data/s*.npy), seeded, without numpy: make-mlp.py DIR."""
import os
import random
import struct
import sys

out = sys.argv[1]
rng = random.Random(7)


def matrix(rows, cols, spread):
    return [rng.gauss(0, spread) for _ in range(rows * cols)]


def literal(values):
    return ", ".join("%.6g" % v for v in values)


d, h = 32, 64
w1, w2, w3 = matrix(d, h, 0.2), matrix(h, d, 0.15), matrix(d, 16, 0.2)
with open(os.path.join(out, "mlp.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("mlp (float[1, 4, %d] X) => (float[1, 4, 16] Z) {\n" % d)
    f.write("  W1 = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (d, h, literal(w1)))
    f.write("  W2 = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (h, d, literal(w2)))
    f.write("  W3 = Constant <value: tensor = float[%d, 16] {%s}> ()\n" % (d, literal(w3)))
    f.write("  A = MatMul(X, W1)\n")
    f.write("  B = Relu(A)\n")
    f.write("  C = MatMul(B, W2)\n")
    f.write("  D = Add(C, X)\n")
    f.write("  Z = MatMul(D, W3)\n")
    f.write("}\n")

os.makedirs(os.path.join(out, "data"), exist_ok=True)
for s in range(12):
    values = [rng.gauss(0, 1) for _ in range(4 * d)]
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, %d), }" % d
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(os.path.join(out, "data", "s%02d.npy" % s), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))

# norm.onnxtxt: a norm-like channel product (a Constant weight) shared by two
# products, then the MLP, for SmoothQuant; data-outliers/ holds samples with
# two outlier channels. A generator of its own leaves the files above as
# they were.
rng = random.Random(11)
g = [1 + rng.gauss(0, 0.1) for _ in range(d)]
v1, v2, v3, v4 = matrix(d, h, 0.2), matrix(d, h, 0.2), matrix(h, d, 0.15), matrix(d, 16, 0.2)
with open(os.path.join(out, "norm.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("norm (float[1, 4, %d] X) => (float[1, 4, 16] Z) {\n" % d)
    f.write("  G = Constant <value: tensor = float[%d] {%s}> ()\n" % (d, literal(g)))
    f.write("  V1 = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (d, h, literal(v1)))
    f.write("  V2 = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (d, h, literal(v2)))
    f.write("  V3 = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (h, d, literal(v3)))
    f.write("  V4 = Constant <value: tensor = float[%d, 16] {%s}> ()\n" % (d, literal(v4)))
    f.write("  N = Mul(X, G)\n")
    f.write("  Q = MatMul(N, V1)\n")
    f.write("  P = MatMul(N, V2)\n")
    f.write("  B = Relu(Q)\n")
    f.write("  E = Mul(B, P)\n")
    f.write("  C = MatMul(E, V3)\n")
    f.write("  D = Add(C, X)\n")
    f.write("  Z = MatMul(D, V4)\n")
    f.write("}\n")

os.makedirs(os.path.join(out, "data-outliers"), exist_ok=True)
for s in range(12):
    values = [rng.gauss(0, 1) for _ in range(4 * d)]
    for row in range(4):
        values[row * d + 5] *= 15
        values[row * d + 20] *= 9
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, %d), }" % d
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(os.path.join(out, "data-outliers", "s%02d.npy" % s), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))

# gemm.onnxtxt: a Gemm with transB, a bias and beta != 1 between reshapes,
# over the same samples as mlp.onnxtxt.
wg, bias = matrix(16, d, 0.2), [rng.gauss(0, 0.5) for _ in range(16)]
with open(os.path.join(out, "gemm.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("gemm (float[1, 4, %d] X) => (float[1, 4, 16] Z) {\n" % d)
    f.write("  S = Constant <value: tensor = int64[2] {4, %d}> ()\n" % d)
    f.write("  T = Constant <value: tensor = int64[3] {1, 4, 16}> ()\n")
    f.write("  W = Constant <value: tensor = float[16, %d] {%s}> ()\n" % (d, literal(wg)))
    f.write("  C = Constant <value: tensor = float[16] {%s}> ()\n" % literal(bias))
    f.write("  A = Reshape(X, S)\n")
    f.write("  Y = Gemm <transB: int = 1, beta: float = 0.5> (A, W, C)\n")
    f.write("  Z = Reshape(Y, T)\n")
    f.write("}\n")
