"""Reference for kv-cache.test: token stories for Inputs/tiny-decoder.onnxtxt
and its decode perplexity computed independently (plain Python, float64).

  tiny-decoder-ref.py data DIR             writes DIR/ids.npy, DIR/offsets.npy
  tiny-decoder-ref.py check RESULT.json float|int8
"""
import json
import math
import struct
import sys

E = [[1, 0.5, -0.25, 2], [-1, 1.5, 0.75, 0.1], [0.3, -2, 1, -0.5]]
STORIES = [[0, 1, 2, 1, 0], [2, 2, 1, 0, 1, 2, 0], [1, 0, 2],
           [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]]
CAPACITY = 8  # --input-shape past=7: the exported present has 8 slots


def write_npy(path, values):
    header = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }" % len(values)
    header += " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack("<%di" % len(values), *values))


def quantized(row):
    """Per-row symmetric int8 (absmax / 127), dequantized."""
    amax = max(abs(x) for x in row)
    scale = amax / 127 if amax > 0 else 1.0
    return [max(-127, min(127, round(x / scale))) * scale for x in row]


def mean_nll(int8):
    nll, count = 0.0, 0
    for story in STORIES:
        tokens = story[:CAPACITY]
        cache = []
        for t in range(len(tokens) - 1):
            x = E[tokens[t]]
            # Cached rows are read back from the cache; the new one as computed.
            keys = [quantized(k) if int8 else k for k in cache] + [x]
            cache.append(x)
            scores = [sum(a * b for a, b in zip(x, k)) for k in keys]
            m = max(scores)
            weights = [math.exp(s - m) for s in scores]
            total = sum(weights)
            out = [sum(w * k[d] for w, k in zip(weights, keys)) / total
                   for d in range(4)]
            logits = [sum(a * b for a, b in zip(out, e)) for e in E]
            m = max(logits)
            lse = m + math.log(sum(math.exp(l - m) for l in logits))
            nll += lse - logits[tokens[t + 1]]
            count += 1
    return nll / count, count


if sys.argv[1] == "data":
    ids, offsets = [], [0]
    for story in STORIES:
        ids += story
        offsets.append(len(ids))
    write_npy(sys.argv[2] + "/ids.npy", ids)
    write_npy(sys.argv[2] + "/offsets.npy", offsets)
else:
    result = json.load(open(sys.argv[2]))
    want, count = mean_nll(sys.argv[3] == "int8")
    got = result["mean_nll"]
    print("mean NLL %.6f, reference %.6f; tokens %d, reference %d"
          % (got, want, result["predicted_tokens"], count))
    if abs(got - want) > 1e-5 or result["predicted_tokens"] != count:
        sys.exit("decode perplexity does not match the reference")
