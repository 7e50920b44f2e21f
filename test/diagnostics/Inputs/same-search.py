"""Exits non-zero unless two manifests' searches chose the same precision
with the same predicted loss for every layer: same-search.py A B."""
import json
import sys

a, b = (json.load(open(p))["quantization"]["search"]["layers"] for p in sys.argv[1:3])
pick = lambda layers: [(l["node"], l["precision"], l["predicted_loss"]) for l in layers]
if pick(a) != pick(b):
    sys.exit("searches differ:\n%s\n%s" % (pick(a), pick(b)))
print("same choice for %d layers" % len(a))
