"""Writes convforms.onnxtxt with transposed convolutions whose kernel
tiles the output (stride = kernel: 2-D 2x2 stride 2 with a bias, 1-D
kernel 3 stride 3) and one that does not (2-D 3x3 stride 2, pads 1), and
3x3 convolutions whose output rows are whole vectors (stride 1 pads 1,
stride 2, dilation 2), over seeded random inputs and weights, with the inputs and every
output summed in double precision as .npy files, without numpy:
make-conv-forms.py DIR."""
import os
import random
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npyfloat import f32, write_npy  # noqa: E402


def values(rng, count):
    return [f32(round(rng.uniform(-1, 1), 3)) for _ in range(count)]


def conv_transpose_2d(x, w, bias, n, c, h, wd, m, kh, kw, s, pad):
    """ONNX ConvTranspose (group 1, dilation 1): out[n, m, y*s + i - pad,
    x*s + j - pad] += x[n, c, y, x] * w[c, m, i, j]."""
    oh, ow = (h - 1) * s + kh - 2 * pad, (wd - 1) * s + kw - 2 * pad
    out = [0.0] * (n * m * oh * ow)
    for b in range(n):
        for o in range(m):
            for ci in range(c):
                for y in range(h):
                    for xx in range(wd):
                        v = x[((b * c + ci) * h + y) * wd + xx]
                        for i in range(kh):
                            for j in range(kw):
                                r, q = y * s + i - pad, xx * s + j - pad
                                if 0 <= r < oh and 0 <= q < ow:
                                    out[((b * m + o) * oh + r) * ow + q] += (
                                        v * w[((ci * m + o) * kh + i) * kw + j])
            if bias:
                for p in range(oh * ow):
                    out[(b * m + o) * oh * ow + p] += bias[o]
    return out, oh, ow


def conv_2d(x, w, n, c, h, wd, m, k, s, pad, dil=1):
    """ONNX Conv (group 1, square kernel, stride and dilation)."""
    span = (k - 1) * dil + 1
    oh, ow = (h + 2 * pad - span) // s + 1, (wd + 2 * pad - span) // s + 1
    out = [0.0] * (n * m * oh * ow)
    for b in range(n):
        for o in range(m):
            for r in range(oh):
                for q in range(ow):
                    acc = 0.0
                    for ci in range(c):
                        for i in range(k):
                            for j in range(k):
                                y = r * s + i * dil - pad
                                xx = q * s + j * dil - pad
                                if 0 <= y < h and 0 <= xx < wd:
                                    acc += (x[((b * c + ci) * h + y) * wd + xx] *
                                            w[((o * c + ci) * k + i) * k + j])
                    out[((b * m + o) * oh + r) * ow + q] = acc
    return out, oh, ow


def tensor(name, shape, vals):
    return "  %s = Constant <value: tensor = float[%s] {%s}> ()\n" % (
        name, ", ".join(map(str, shape)), ", ".join("%.3f" % v for v in vals))


rng = random.Random(11)
n, c, h, wd, m = 2, 3, 5, 4, 4
x = values(rng, n * c * h * wd)
w = values(rng, c * m * 2 * 2)
bias = values(rng, m)
y, yh, yw = conv_transpose_2d(x, w, bias, n, c, h, wd, m, 2, 2, 2, 0)
w3 = values(rng, c * m * 3 * 3)
z, zh, zw = conv_transpose_2d(x, w3, None, n, c, h, wd, m, 3, 3, 2, 1)
# 1-D: [1, 3, 7] by [3, 2, 3], stride 3, as 2-D with height 1.
x1 = values(rng, 3 * 7)
w1 = values(rng, 3 * 2 * 3)
y1, _, y1w = conv_transpose_2d(x1, w1, None, 1, 3, 1, 7, 2, 1, 3, 3, 0)

# 3x3 convolutions with 16-wide output rows: [2, 3, 5, 16] stride 1 pads 1,
# [2, 3, 9, 33] stride 2.
xc = values(rng, 2 * 3 * 5 * 16)
wc = values(rng, 4 * 3 * 3 * 3)
c1, c1h, c1w = conv_2d(xc, wc, 2, 3, 5, 16, 4, 3, 1, 1)
xs = values(rng, 2 * 3 * 9 * 33)
c2, c2h, c2w = conv_2d(xs, wc, 2, 3, 9, 33, 4, 3, 2, 0)
c3, c3h, c3w = conv_2d(xc, wc, 2, 3, 5, 16, 4, 3, 1, 2, dil=2)

out = sys.argv[1]
with open(os.path.join(out, "convforms.onnxtxt"), "w") as f:
    f.write('<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n')
    f.write("convforms (float[%d, %d, %d, %d] X, float[1, 3, 7] X1, "
            "float[2, 3, 5, 16] XC, float[2, 3, 9, 33] XS) => "
            "(float[%d, %d, %d, %d] Y, float[%d, %d, %d, %d] Z, "
            "float[1, 2, %d] Y1, float[2, 4, %d, %d] C1, "
            "float[2, 4, %d, %d] C2, float[2, 4, %d, %d] C3) {\n" % (
                n, c, h, wd, n, m, yh, yw, n, m, zh, zw, y1w, c1h, c1w,
                c2h, c2w, c3h, c3w))
    f.write(tensor("W", [c, m, 2, 2], w))
    f.write(tensor("B", [m], bias))
    f.write(tensor("W3", [c, m, 3, 3], w3))
    f.write(tensor("W1", [3, 2, 3], w1))
    f.write(tensor("WC", [4, 3, 3, 3], wc))
    f.write("  Y = ConvTranspose <strides: ints = [2, 2]> (X, W, B)\n")
    f.write("  Z = ConvTranspose <strides: ints = [2, 2], "
            "pads: ints = [1, 1, 1, 1]> (X, W3)\n")
    f.write("  Y1 = ConvTranspose <strides: ints = [3]> (X1, W1)\n")
    f.write("  C1 = Conv <pads: ints = [1, 1, 1, 1]> (XC, WC)\n")
    f.write("  C2 = Conv <strides: ints = [2, 2]> (XS, WC)\n")
    f.write("  C3 = Conv <pads: ints = [2, 2, 2, 2], "
            "dilations: ints = [2, 2]> (XC, WC)\n}\n")
write_npy(os.path.join(out, "x.npy"), [n, c, h, wd], x)
write_npy(os.path.join(out, "x1.npy"), [1, 3, 7], x1)
write_npy(os.path.join(out, "y.npy"), [n, m, yh, yw], y)
write_npy(os.path.join(out, "z.npy"), [n, m, zh, zw], z)
write_npy(os.path.join(out, "y1.npy"), [1, 2, y1w], y1)
write_npy(os.path.join(out, "xc.npy"), [2, 3, 5, 16], xc)
write_npy(os.path.join(out, "xs.npy"), [2, 3, 9, 33], xs)
write_npy(os.path.join(out, "c1.npy"), [2, 4, c1h, c1w], c1)
write_npy(os.path.join(out, "c2.npy"), [2, 4, c2h, c2w], c2)
write_npy(os.path.join(out, "c3.npy"), [2, 4, c3h, c3w], c3)
