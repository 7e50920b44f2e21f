"""Writes a LLaMA-shaped decode-step ONNX model (one new token, a static
KV cache of PAST earlier ones) with random weights, without the onnx
package (the protobuf fields are written by hand):

    llama-onnx.py OUT_DIR [--dim 2048] [--layers 22] [--ffn 5632]
                  [--vocab 32000] [--heads 32] [--kv-heads 4] [--past 128]
                  [--seed 0] [--gqa group|expand]

The defaults are TinyLlama-1.1B's shape (about 1.1 B parameters, 4.4 GB of
float32). OUT_DIR/model.onnx holds the graph and the constants under 1 KiB
(shapes, scalars: ONNX Runtime needs those inline); every other initializer's
bytes go to OUT_DIR/model.onnx.data (external data, each tensor at a 64-byte
aligned offset). The weights are generated and written one block of rows at
a time, so the script's memory stays far below one weight matrix.

Graph (opset 14, float32, batch 1, all shapes static):
    inputs   input_ids int64 [1, 1], position int64 [1] (this token's index,
             0..PAST), past_k.i / past_v.i [1, KV_HEADS, PAST, HEAD_DIM]
    outputs  logits [1, 1, VOCAB], present_k.i / present_v.i
             [1, KV_HEADS, PAST + 1, HEAD_DIM]
Each layer: RMSNorm, Q/K/V projections (weights stored [in, out]), rotary
embedding (rotate-half form, cos/sin rows gathered at `position`), present =
Concat(past, new), grouped-query attention, output projection and residual;
RMSNorm, SwiGLU feed-forward (w2(silu(w1 h) * w3 h)) and residual. Then a
final RMSNorm and an untied lm_head. --gqa picks how the KV heads are shared
by the query heads: `group` (default) reshapes q to [1, KV_HEADS, GROUP,
HEAD_DIM] against the cache as is; `expand` repeats the cache's heads
(Reshape, Expand, Reshape), as Hugging Face exports do."""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnxproto import field, varint  # noqa: E402

FLOAT, INT64 = 1, 7            # TensorProto.DataType
ATTR_INT, ATTR_INTS = 2, 7     # AttributeProto.AttributeType
ALIGN = 64                     # external data offsets are multiples of this
CHUNK_ELEMS = 1 << 22          # at most 16 MB of float32 generated at once
INLINE_BYTES = 1024            # smaller constants stay inside model.onnx
DATA_NAME = "model.onnx.data"


def int64_varint(v):
    """A varint of a (possibly negative) int64, two's complement as protobuf
    writes it."""
    return varint(v & 0xFFFFFFFFFFFFFFFF)


def typed_value_info(name, elem_type, dims):
    """A ValueInfoProto of a tensor of element type `elem_type` and static
    `dims` (onnxproto.value_info writes float ones only)."""
    shape = b"".join(field(1, 2, field(1, 0, d)) for d in dims)
    tensor = field(1, 0, elem_type) + field(2, 2, shape)
    return field(1, 2, name.encode()) + field(2, 2, field(1, 2, tensor))


def attribute(name, value):
    """An int or list-of-ints AttributeProto."""
    key = field(1, 2, name.encode())
    if isinstance(value, int):
        return key + varint(3 << 3) + int64_varint(value) + field(20, 0, ATTR_INT)
    ints = b"".join(varint(8 << 3) + int64_varint(v) for v in value)
    return key + ints + field(20, 0, ATTR_INTS)


class Model:
    """The graph under construction: nodes, initializer protos and the
    external data file their bytes are streamed to."""

    def __init__(self, data_path):
        self.data = open(data_path, "wb")
        self.offset = 0
        self.nodes = []
        self.initializers = []
        self.params = 0         # elements of the weights (not the tables)

    def initializer(self, name, dims, data_type, chunks):
        """Appends the arrays of `chunks` (in order, C layout) to the data
        file as tensor `name` and records its external-data TensorProto."""
        pad = -self.offset % ALIGN
        self.data.write(b"\0" * pad)
        self.offset += pad
        start = self.offset
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk)
            self.data.write(memoryview(chunk).cast("B"))
            self.offset += chunk.nbytes
        length = self.offset - start
        itemsize = 4 if data_type == FLOAT else 8
        assert length == itemsize * math.prod(dims), name

        def entry(key, value):
            return field(13, 2, field(1, 2, key.encode()) +
                         field(2, 2, value.encode()))

        self.initializers.append(
            b"".join(field(1, 0, d) for d in dims) + field(2, 0, data_type) +
            field(8, 2, name.encode()) + entry("location", DATA_NAME) +
            entry("offset", str(start)) + entry("length", str(length)) +
            field(14, 0, 1))  # data_location = EXTERNAL
        return name

    def weight(self, rng, name, dims):
        """A random N(0, 0.02^2) float32 weight, generated a block of rows
        at a time."""
        rows, cols = dims[0], math.prod(dims[1:])
        step = max(1, CHUNK_ELEMS // cols)

        def chunks():
            for r in range(0, rows, step):
                block = rng.standard_normal((min(step, rows - r), cols),
                                            dtype=np.float32)
                block *= 0.02
                yield block

        self.params += rows * cols
        return self.initializer(name, dims, FLOAT, chunks())

    def ones(self, name, n):
        """A norm weight: n float32 ones."""
        self.params += n
        return self.initializer(name, [n], FLOAT, [np.ones(n, np.float32)])

    def const(self, name, array):
        """A constant (shape vector, scalar, table) as an initializer: inline
        raw_data under INLINE_BYTES (ONNX Runtime's shape inference reads
        Reshape/Slice/Expand operands only from inline data), else external."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array, data_type = array.astype("<f4"), FLOAT
        else:
            array, data_type = array.astype("<i8"), INT64
        if array.nbytes >= INLINE_BYTES:
            return self.initializer(name, list(array.shape), data_type, [array])
        self.initializers.append(
            b"".join(field(1, 0, d) for d in array.shape) +
            field(2, 0, data_type) + field(8, 2, name.encode()) +
            field(9, 2, array.tobytes()))
        return name

    def node(self, op, name, inputs, attrs=None, out=None):
        """Adds node `name` running `op` with one output, named `out` (a
        graph output) or `name`_output_0; returns the output's name."""
        out = out or name + "_output_0"
        self.nodes.append(
            b"".join(field(1, 2, i.encode()) for i in inputs) +
            field(2, 2, out.encode()) +
            field(3, 2, name.encode()) + field(4, 2, op.encode()) +
            b"".join(field(5, 2, attribute(k, v))
                     for k, v in (attrs or {}).items()))
        return out

    def finish(self, path, inputs, outputs):
        """Writes the ModelProto with the graph's `inputs` and `outputs`
        (lists of ValueInfoProto bytes) and closes the data file."""
        self.data.close()
        graph = (b"".join(field(1, 2, n) for n in self.nodes) +
                 field(2, 2, b"llama_decode") +
                 b"".join(field(5, 2, t) for t in self.initializers) +
                 b"".join(field(11, 2, i) for i in inputs) +
                 b"".join(field(12, 2, o) for o in outputs))
        opset = field(8, 2, field(1, 2, b"") + field(2, 0, 14))
        with open(path, "wb") as f:
            f.write(field(1, 0, 8) +                     # ir_version 8
                    field(2, 2, b"qopt bench/llama-onnx.py") + opset +
                    field(7, 2, graph))


def rms_norm(m, x, weight, prefix, consts):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis."""
    sq = m.node("Pow", prefix + "/Pow", [x, consts["two"]])
    mean = m.node("ReduceMean", prefix + "/ReduceMean", [sq],
                  {"axes": [-1], "keepdims": 1})
    var = m.node("Add", prefix + "/Add", [mean, consts["eps"]])
    rms = m.node("Sqrt", prefix + "/Sqrt", [var])
    normed = m.node("Div", prefix + "/Div", [x, rms])
    return m.node("Mul", prefix + "/Mul", [normed, weight])


def rope(m, x, prefix, consts):
    """x * cos + rotate_half(x) * sin on the last axis of a [1, H, 1, hd]
    tensor; rotate_half(x) = Concat(-x[..., hd/2:], x[..., :hd/2])."""
    lo = m.node("Slice", prefix + "/Slice",
                [x, consts["zero"], consts["half"], consts["axis3"]])
    hi = m.node("Slice", prefix + "/Slice_1",
                [x, consts["half"], consts["hd"], consts["axis3"]])
    neg = m.node("Neg", prefix + "/Neg", [hi])
    rot = m.node("Concat", prefix + "/Concat", [neg, lo], {"axis": -1})
    xc = m.node("Mul", prefix + "/Mul", [x, consts["cos"]])
    rs = m.node("Mul", prefix + "/Mul_1", [rot, consts["sin"]])
    return m.node("Add", prefix + "/Add", [xc, rs])


def attention(m, rng, a, i, x, consts):
    """Layer i's attention block on x [1, 1, dim] with its residual; writes
    the graph outputs present_k.i and present_v.i."""
    kvh, heads = a.kv_heads, a.heads
    kv_dim = kvh * (a.dim // heads)
    w = "layers.%d.attention." % i
    p = "/layers.%d/attention/" % i
    h = rms_norm(m, x, m.ones("layers.%d.attention_norm.weight" % i, a.dim),
                 "/layers.%d/attention_norm" % i, consts)
    q = m.node("MatMul", p + "wq/MatMul", [h, m.weight(rng, w + "wq", [a.dim, a.dim])])
    k = m.node("MatMul", p + "wk/MatMul", [h, m.weight(rng, w + "wk", [a.dim, kv_dim])])
    v = m.node("MatMul", p + "wv/MatMul", [h, m.weight(rng, w + "wv", [a.dim, kv_dim])])

    def to_heads(t, n, name):   # [1, 1, n * hd] -> [1, n, 1, hd]
        r = m.node("Reshape", p + name + "/Reshape", [t, consts["heads%d" % n]])
        return m.node("Transpose", p + name + "/Transpose", [r],
                      {"perm": [0, 2, 1, 3]})

    q = rope(m, to_heads(q, heads, "q"), p + "q_rope", consts)
    k = rope(m, to_heads(k, kvh, "k"), p + "k_rope", consts)
    v = to_heads(v, kvh, "v")
    present_k = m.node("Concat", p + "present_k/Concat",
                       ["past_k.%d" % i, k], {"axis": 2}, "present_k.%d" % i)
    present_v = m.node("Concat", p + "present_v/Concat",
                       ["past_v.%d" % i, v], {"axis": 2}, "present_v.%d" % i)

    if a.gqa == "group":
        # Query heads g*group..(g+1)*group-1 share KV head g: with one query
        # row per head they become the rows of a [group, hd] matrix per KV
        # head, multiplied by the cache as it is.
        qs = m.node("Reshape", p + "q_group/Reshape", [q, consts["qgroup"]])
        keys, values = present_k, present_v
    else:
        # Repeat each KV head `group` times: [1, kvh, S, hd] -> [1, kvh, 1,
        # S, hd] -> Expand [1, kvh, group, S, hd] -> [1, heads, S, hd].
        def repeat(t, name):
            r = m.node("Reshape", p + name + "/Reshape", [t, consts["kv5"]])
            e = m.node("Expand", p + name + "/Expand", [r, consts["kv5x"]])
            return m.node("Reshape", p + name + "/Reshape_1", [e, consts["kvrep"]])
        qs, keys, values = q, repeat(present_k, "repeat_k"), repeat(present_v, "repeat_v")

    kt = m.node("Transpose", p + "k/Transpose_1", [keys], {"perm": [0, 1, 3, 2]})
    scores = m.node("MatMul", p + "scores/MatMul", [qs, kt])
    scaled = m.node("Mul", p + "scores/Mul", [scores, consts["scale"]])
    probs = m.node("Softmax", p + "Softmax", [scaled], {"axis": -1})
    ctx = m.node("MatMul", p + "context/MatMul", [probs, values])
    # Back to [1, heads, 1, hd] (a no-op for --gqa expand), then [1, 1, dim].
    ctx = m.node("Reshape", p + "context/Reshape", [ctx, consts["heads%d" % -heads]])
    ctx = m.node("Transpose", p + "context/Transpose", [ctx], {"perm": [0, 2, 1, 3]})
    ctx = m.node("Reshape", p + "context/Reshape_1", [ctx, consts["flat"]])
    out = m.node("MatMul", p + "wo/MatMul", [ctx, m.weight(rng, w + "wo", [a.dim, a.dim])])
    return m.node("Add", "/layers.%d/Add" % i, [x, out])


def feed_forward(m, rng, a, i, x, consts):
    """Layer i's SwiGLU block on x [1, 1, dim] with its residual."""
    w = "layers.%d.feed_forward." % i
    p = "/layers.%d/feed_forward/" % i
    h = rms_norm(m, x, m.ones("layers.%d.ffn_norm.weight" % i, a.dim),
                 "/layers.%d/ffn_norm" % i, consts)
    gate = m.node("MatMul", p + "w1/MatMul", [h, m.weight(rng, w + "w1", [a.dim, a.ffn])])
    up = m.node("MatMul", p + "w3/MatMul", [h, m.weight(rng, w + "w3", [a.dim, a.ffn])])
    sig = m.node("Sigmoid", p + "Sigmoid", [gate])
    silu = m.node("Mul", p + "Mul", [sig, gate])
    act = m.node("Mul", p + "Mul_1", [silu, up])
    down = m.node("MatMul", p + "w2/MatMul", [act, m.weight(rng, w + "w2", [a.ffn, a.dim])])
    return m.node("Add", "/layers.%d/Add_1" % i, [x, down])


def constants(m, a):
    """The graph's shared small constants, the RoPE tables and the cos/sin
    rows of this step's position."""
    hd, kvh, heads = a.dim // a.heads, a.kv_heads, a.heads
    group = heads // kvh
    c = {
        "two": m.const("const.two", np.float32(2.0)),
        "eps": m.const("const.rms_eps", np.float32(1e-5)),
        "scale": m.const("const.attention_scale", np.float32(1 / math.sqrt(hd))),
        "zero": m.const("const.rope_lo", [0]),
        "half": m.const("const.rope_half", [hd // 2]),
        "hd": m.const("const.rope_hi", [hd]),
        "axis3": m.const("const.rope_axis", [3]),
        "heads%d" % heads: m.const("const.shape_q_heads", [1, 1, heads, hd]),
        "heads%d" % kvh: m.const("const.shape_kv_heads", [1, 1, kvh, hd]),
        "heads%d" % -heads: m.const("const.shape_context", [1, heads, 1, hd]),
        "flat": m.const("const.shape_hidden", [1, 1, a.dim]),
    }
    if a.gqa == "group":
        c["qgroup"] = m.const("const.shape_q_group", [1, kvh, group, hd])
    else:
        s = a.past + 1
        c["kv5"] = m.const("const.shape_kv_unsqueezed", [1, kvh, 1, s, hd])
        c["kv5x"] = m.const("const.shape_kv_expanded", [1, kvh, group, s, hd])
        c["kvrep"] = m.const("const.shape_kv_repeated", [1, heads, s, hd])
    # cos/sin of p * 10000^(-2j/hd) for positions 0..past, each frequency
    # twice (both halves of the rotate-half form), gathered at `position`.
    inv = 10000.0 ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    angles = np.outer(np.arange(a.past + 1, dtype=np.float64), inv)
    angles = np.concatenate([angles, angles], axis=1)
    for fn in ("cos", "sin"):
        table = m.const("rope.%s_table" % fn, getattr(np, fn)(angles))
        c[fn] = m.node("Gather", "/rope/%s/Gather" % fn, [table, "position"],
                       {"axis": 0})
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--past", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gqa", choices=("group", "expand"), default="group")
    a = ap.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        ap.error("--dim must split into --heads heads of an even size, and "
                 "--heads into --kv-heads groups")
    if a.past < 1:
        ap.error("--past must be at least 1")
    hd = a.dim // a.heads

    os.makedirs(a.out_dir, exist_ok=True)
    m = Model(os.path.join(a.out_dir, DATA_NAME))
    rng = np.random.default_rng(a.seed)
    consts = constants(m, a)

    x = m.node("Gather", "/tok_embeddings/Gather",
               [m.weight(rng, "tok_embeddings.weight", [a.vocab, a.dim]),
                "input_ids"], {"axis": 0})
    inputs = [typed_value_info("input_ids", INT64, [1, 1]),
              typed_value_info("position", INT64, [1])]
    outputs = []
    for i in range(a.layers):
        x = attention(m, rng, a, i, x, consts)
        x = feed_forward(m, rng, a, i, x, consts)
        for kind in ("k", "v"):
            inputs.append(typed_value_info("past_%s.%d" % (kind, i), FLOAT,
                                           [1, a.kv_heads, a.past, hd]))
            outputs.append(typed_value_info("present_%s.%d" % (kind, i), FLOAT,
                                            [1, a.kv_heads, a.past + 1, hd]))
    h = rms_norm(m, x, m.ones("norm.weight", a.dim), "/norm", consts)
    m.node("MatMul", "/lm_head/MatMul",
           [h, m.weight(rng, "lm_head.weight", [a.dim, a.vocab])], out="logits")
    outputs.insert(0, typed_value_info("logits", FLOAT, [1, 1, a.vocab]))

    model_path = os.path.join(a.out_dir, "model.onnx")
    m.finish(model_path, inputs, outputs)
    graph_bytes = os.path.getsize(model_path)
    # The shape, for scripts that build the decode step's inputs.
    with open(os.path.join(a.out_dir, "shape.json"), "w") as f:
        json.dump({"dim": a.dim, "layers": a.layers, "ffn": a.ffn,
                   "vocab": a.vocab, "heads": a.heads,
                   "kv_heads": a.kv_heads, "past": a.past,
                   "params": m.params}, f)
    print("%s: %d parameters (%.3f B), wrote %d bytes (model.onnx %d, %s %d)"
          % (a.out_dir, m.params, m.params / 1e9, graph_bytes + m.offset,
             graph_bytes, DATA_NAME, m.offset))


if __name__ == "__main__":
    main()
