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


def write_model(name, signature, lines):
    """An ONNX text model: name.onnxtxt with `signature` and body `lines`."""
    with open(os.path.join(out, name + ".onnxtxt"), "w") as f:
        f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
        f.write(signature + " {\n")
        f.writelines("  %s\n" % line for line in lines)
        f.write("}\n")


def write_sample(path, values):
    """A float32 [1, 4, d] .npy file."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, %d), }" % d
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


d, h = 32, 64
w1, w2, w3 = matrix(d, h, 0.2), matrix(h, d, 0.15), matrix(d, 16, 0.2)
write_model("mlp", "mlp (float[1, 4, %d] X) => (float[1, 4, 16] Z)" % d, [
    "W1 = Constant <value: tensor = float[%d, %d] {%s}> ()" % (d, h, literal(w1)),
    "W2 = Constant <value: tensor = float[%d, %d] {%s}> ()" % (h, d, literal(w2)),
    "W3 = Constant <value: tensor = float[%d, 16] {%s}> ()" % (d, literal(w3)),
    "A = MatMul(X, W1)",
    "B = Relu(A)",
    "C = MatMul(B, W2)",
    "D = Add(C, X)",
    "Z = MatMul(D, W3)",
    ])

os.makedirs(os.path.join(out, "data"), exist_ok=True)
for s in range(12):
    values = [rng.gauss(0, 1) for _ in range(4 * d)]
    write_sample(os.path.join(out, "data", "s%02d.npy" % s), values)

# norm.onnxtxt: a norm-like channel product (a Constant weight) shared by two
# products, then the MLP, for SmoothQuant; data-outliers/ holds samples with
# two outlier channels. A generator of its own leaves the files above as
# they were.
rng = random.Random(11)
g = [1 + rng.gauss(0, 0.1) for _ in range(d)]
v1, v2, v3, v4 = matrix(d, h, 0.2), matrix(d, h, 0.2), matrix(h, d, 0.15), matrix(d, 16, 0.2)
write_model("norm", "norm (float[1, 4, %d] X) => (float[1, 4, 16] Z)" % d, [
    "G = Constant <value: tensor = float[%d] {%s}> ()" % (d, literal(g)),
    "V1 = Constant <value: tensor = float[%d, %d] {%s}> ()" % (d, h, literal(v1)),
    "V2 = Constant <value: tensor = float[%d, %d] {%s}> ()" % (d, h, literal(v2)),
    "V3 = Constant <value: tensor = float[%d, %d] {%s}> ()" % (h, d, literal(v3)),
    "V4 = Constant <value: tensor = float[%d, 16] {%s}> ()" % (d, literal(v4)),
    "N = Mul(X, G)",
    "Q = MatMul(N, V1)",
    "P = MatMul(N, V2)",
    "B = Relu(Q)",
    "E = Mul(B, P)",
    "C = MatMul(E, V3)",
    "D = Add(C, X)",
    "Z = MatMul(D, V4)",
    ])

os.makedirs(os.path.join(out, "data-outliers"), exist_ok=True)
for s in range(12):
    values = [rng.gauss(0, 1) for _ in range(4 * d)]
    for row in range(4):
        values[row * d + 5] *= 15
        values[row * d + 20] *= 9
    write_sample(os.path.join(out, "data-outliers", "s%02d.npy" % s), values)

# gemm.onnxtxt: a Gemm with transB, a bias and beta != 1 between reshapes,
# over the same samples as mlp.onnxtxt.
wg, bias = matrix(16, d, 0.2), [rng.gauss(0, 0.5) for _ in range(16)]
write_model("gemm", "gemm (float[1, 4, %d] X) => (float[1, 4, 16] Z)" % d, [
    "S = Constant <value: tensor = int64[2] {4, %d}> ()" % d,
    "T = Constant <value: tensor = int64[3] {1, 4, 16}> ()",
    "W = Constant <value: tensor = float[16, %d] {%s}> ()" % (d, literal(wg)),
    "C = Constant <value: tensor = float[16] {%s}> ()" % literal(bias),
    "A = Reshape(X, S)",
    "Y = Gemm <transB: int = 1, beta: float = 0.5> (A, W, C)",
    "Z = Reshape(Y, T)",
    ])
