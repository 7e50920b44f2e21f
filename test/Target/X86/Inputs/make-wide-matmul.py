"""Writes wide-matmul.onnxtxt: Y = X W with X [4, 256] and a seeded random
W [256, 192], wide enough that the x86 weight-only kernel loops over several
super-blocks of columns at run time: make-wide-matmul.py DIR."""
import os
import random
import sys

rng = random.Random(11)
k, n = 256, 192
w = ", ".join("%.3f" % rng.uniform(-1, 1) for _ in range(k * n))
with open(os.path.join(sys.argv[1], "wide-matmul.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("wide_matmul (float[4, %d] X) => (float[4, %d] Y) {\n" % (k, n))
    f.write("  W = Constant <value: tensor = float[%d, %d] {%s}> ()\n" % (k, n, w))
    f.write("  Y = MatMul(X, W)\n}\n")
