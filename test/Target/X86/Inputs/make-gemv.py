"""Writes gemv.onnxtxt, Y[1, 96] = X[1, 256] W[256, 96] + B with seeded
random X, W and B, and x.npy / y.npy (the product summed in double
precision), without numpy: make-gemv.py DIR."""
import os
import random
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npyfloat import f32, write_npy  # noqa: E402


rng = random.Random(5)
k, n = 256, 96
x = [f32(rng.uniform(-1, 1)) for _ in range(k)]
w = [f32(round(rng.uniform(-1, 1), 3)) for _ in range(k * n)]
bias = [f32(round(rng.uniform(-1, 1), 3)) for _ in range(n)]
y = [sum(x[i] * w[i * n + j] for i in range(k)) + bias[j] for j in range(n)]
out = sys.argv[1]
with open(os.path.join(out, "gemv.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("gemv (float[1, %d] X) => (float[1, %d] Y) {\n" % (k, n))
    f.write("  W = Constant <value: tensor = float[%d, %d] {%s}> ()\n" %
            (k, n, ", ".join("%.3f" % v for v in w)))
    f.write("  B = Constant <value: tensor = float[%d] {%s}> ()\n" %
            (n, ", ".join("%.3f" % v for v in bias)))
    f.write("  P = MatMul(X, W)\n  Y = Add(P, B)\n}\n")
write_npy(os.path.join(out, "x.npy"), [1, k], x)
write_npy(os.path.join(out, "y.npy"), [1, n], y)
