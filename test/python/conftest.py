"""Paths and skips shared by the qopt Python tests (test_qopt.py).

ctest runs them with PYTHONPATH=build/python and QOPT_SOURCE_DIR,
QOPT_SHARED_DIR set; by hand from the repository root:

    PYTHONPATH=build/python /usr/bin/python3 -m pytest -q test/python
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

SOURCE = os.environ.get(
    "QOPT_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
SHARED = os.environ.get("QOPT_SHARED_DIR", os.path.join(SOURCE, "..", "shared"))
CAPI_INPUTS = os.path.join(SOURCE, "test", "capi", "Inputs")
DIAGNOSTICS = os.path.join(SOURCE, "test", "diagnostics")
NPM = os.path.join(SOURCE, "build", "npm", "node_modules")
STORIES = os.path.join(SHARED, "models", "stories260k", "stories260k.onnx")
STORY_IDS = os.path.join(SHARED, "data", "tinystories-dev.ids.npy")
STORY_OFFSETS = os.path.join(SHARED, "data", "tinystories-dev.offsets.npy")
OCR = os.path.join(NPM, "@gutenye", "ocr-models", "assets")


def capi_input(name):
    return os.path.join(CAPI_INPUTS, name)


def need_shared():
    if not os.path.isfile(STORIES):
        pytest.skip(f"{SHARED}/models is absent")


def need_ort():
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NPM, "onnxruntime-node")):
        pytest.skip("onnxruntime-node is not installed (scripts/deps.sh)")


def ort_reference(model, out_dir, *args):
    """test/ort/reference.js: ONNX Runtime's outputs as {name: array}, and
    the inputs it made, from out_dir."""
    subprocess.run(
        ["node", os.path.join(SOURCE, "test", "ort", "reference.js"), model, str(out_dir), *args],
        check=True,
    )
    return {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir) if f.endswith(".npy")}
