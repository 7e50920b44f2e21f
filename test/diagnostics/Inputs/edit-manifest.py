"""Edits an artifact's manifest.json: edit-manifest.py DIR KEY=JSON ...

KEY is a dotted path into the manifest ("inputs.0.shape", "entry"); an
empty JSON value deletes the key."""
import json
import sys

path = sys.argv[1] + "/manifest.json"
with open(path) as f:
    manifest = json.load(f)
for edit in sys.argv[2:]:
    key, value = edit.split("=", 1)
    *parents, last = key.split(".")
    node = manifest
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        last = int(last)
    if value:
        node[last] = json.loads(value)
    else:
        del node[last]
with open(path, "w") as f:
    json.dump(manifest, f, indent=2)
