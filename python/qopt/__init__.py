"""qopt from Python: compile an ONNX model into a native artifact, run it on
numpy arrays, read its manifest and quality report as dicts.

    import qopt, numpy as np
    art = qopt.compile("model.onnx", precision="w8a16", output_dir="out")
    art.report["summary"]            # the quality report, a plain dict
    art.run({"X": np.ones((1, 16), np.float32)})["Y"]

docs/python.md walks through it. Errors are qopt.CompileError (compiling)
and qopt.RuntimeError (loading, running, inputs that do not match the
manifest), both qopt.Error; `error.node` names the ONNX node a compile error
is about.
"""

import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping

import numpy as np

from . import _qopt
from ._qopt import CompileError, Error, RuntimeError

__all__ = [
    "Artifact",
    "CompileError",
    "Error",
    "RuntimeError",
    "compile",
    "eval_perplexity",
    "list_devices",
    "load",
    "__version__",
]

__version__ = _qopt.version()

# Manifest dtypes numpy has no type for travel as their raw bits.
_RAW_DTYPES = {"bfloat16": np.dtype(np.uint16)}


def _numpy_dtype(name):
    if name in _RAW_DTYPES:
        return _RAW_DTYPES[name]
    try:
        return np.dtype(name)
    except TypeError:
        raise RuntimeError(f"dtype '{name}' has no numpy equivalent") from None


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Artifact:
    """A compiled model loaded for running: `qopt.load(dir)` or the result of
    `qopt.compile`.

    inputs, outputs: {name: {"dtype": str, "shape": tuple}} in manifest order.
    manifest, report: manifest.json and report.json as dicts (report is None
    for a float compile). device: where it runs ("cpu", "vulkan:<name>").
    """

    def __init__(self, path, device=None, _owned_dir=None):
        self.path = os.fspath(path)
        self._native = _qopt.Artifact(self.path, device or "")
        self._input_list = self._native.inputs()
        self._output_list = self._native.outputs()
        self._manifest = None
        self._report = None
        if _owned_dir is not None:
            # A folder compile() made because no output_dir was given goes
            # when the artifact does.
            self._cleanup = weakref.finalize(self, shutil.rmtree, _owned_dir, True)

    def __repr__(self):
        return f"<qopt.Artifact {self.path!r} on {self.device}>"

    @property
    def inputs(self):
        return {t["name"]: {"dtype": t["dtype"], "shape": t["shape"]} for t in self._input_list}

    @property
    def outputs(self):
        return {t["name"]: {"dtype": t["dtype"], "shape": t["shape"]} for t in self._output_list}

    @property
    def manifest(self):
        if self._manifest is None:
            self._manifest = json.loads(_qopt.manifest_json(self.path))
        return self._manifest

    @property
    def report(self):
        if self._report is None:
            text = _qopt.report_json(self.path)
            if text is None:
                return None
            self._report = json.loads(text)
        return self._report

    @property
    def device(self):
        return self._native.device()

    @property
    def target(self):
        return self._native.target()

    @property
    def threads(self):
        """How many threads run() uses (1 unless set)."""
        return getattr(self, "_threads", 1)

    @threads.setter
    def threads(self, count):
        """Runs later calls on `count` threads; the outputs are the same
        bit for bit for every count. Code that does not split (a device
        artifact, say) stays on 1: read the property back to see."""
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError("threads must be an int")
        self._threads = self._native.set_threads(count)

    def run(self, inputs):
        """Runs the model once on {name: array} and returns {name: array}.

        Every input must be given, with the manifest's dtype and shape (no
        silent casts: a float64 array for a float32 input is an error).
        C-contiguous arrays of the right dtype are passed without a copy;
        others are copied into contiguous ones. Values that are not arrays
        (lists, scalars) are converted to the input's dtype.
        """
        if not isinstance(inputs, Mapping):
            raise RuntimeError(
                "Artifact.run takes a dict {input name: array}, got " + type(inputs).__name__
            )
        expected = [t["name"] for t in self._input_list]
        unknown = [name for name in inputs if name not in expected]
        if unknown:
            raise RuntimeError(
                f"unknown input '{unknown[0]}': the model takes " + ", ".join(expected)
            )
        arrays = []
        for t in self._input_list:
            name, dtype, shape = t["name"], _numpy_dtype(t["dtype"]), tuple(t["shape"])
            if name not in inputs:
                raise RuntimeError(
                    f"missing input '{name}' ({t['dtype']} {_shape_text(shape)}); "
                    "the model takes " + ", ".join(expected)
                )
            value = inputs[name]
            if not isinstance(value, np.ndarray):
                value = np.asarray(value, dtype=dtype)
            if value.dtype != dtype:
                raise RuntimeError(
                    f"input '{name}' is {value.dtype} but the model takes {t['dtype']} "
                    f"(convert it with .astype(np.{dtype.name}))"
                )
            if value.shape != shape:
                raise RuntimeError(
                    f"input '{name}' has shape {_shape_text(value.shape)} but the model "
                    f"takes {_shape_text(shape)}"
                )
            if not (value.flags.c_contiguous and value.flags.aligned):
                value = np.ascontiguousarray(value)
            arrays.append(value)
        outputs = [
            np.empty(tuple(t["shape"]), dtype=_numpy_dtype(t["dtype"])) for t in self._output_list
        ]
        self._native.run(arrays, outputs)
        return {t["name"]: out for t, out in zip(self._output_list, outputs)}

    __call__ = run


def load(path, device=None):
    """Loads the artifact folder `path`. `device`: "cpu", "vulkan", or None
    for the one it was compiled for (SPIR-V artifacts run through qrt's
    Vulkan backend)."""
    return Artifact(path, device)


def list_devices():
    """The devices qrt can run on ("cpu", "vulkan:0: <name>"); a line that
    starts with "# " says why Vulkan is unusable, when it is."""
    return _qopt.list_devices()


def _looks_like_onnx_text(data):
    head = data.lstrip()[:1]
    return head in (b"<", b"#")


def _shape_spec(name, value):
    if isinstance(value, str):
        return f"{name}={value}"
    if isinstance(value, (int, np.integer)):
        return f"{name}={int(value)}"
    return f"{name}=" + "x".join(str(int(d)) for d in value)


def _optional_path(value):
    return None if value is None else os.fspath(value)


def compile(
    model,
    output_dir=None,
    *,
    target=None,
    cpu=None,
    features=None,
    precision=None,
    recipe=None,
    algorithm=None,
    exclude=None,
    emit_onnx=None,
    calib=None,
    calib_offsets=None,
    calib_samples=None,
    calib_method=None,
    calib_table=None,
    input_shapes=None,
    freeze_inputs=None,
    name=None,
    embed_weights=False,
    opt_level=3,
    force=False,
    verbose=False,
    progress=None,
    device=None,
):
    """Compiles an ONNX model and loads the artifact.

    model: a path (.onnx, or ONNX text .onnxtxt) or the model's bytes
    (binary or text; written to a private temporary file, removed after).
    output_dir: the artifact folder; None compiles into a temporary folder
    removed when the returned Artifact is garbage collected.
    target, cpu, features: --target, -mcpu, -mattr.
    precision, algorithm, exclude: --precision ("w8a16", "w4a16-g32",
    "w8a8-static", ...), --algorithm, --exclude.
    recipe: --recipe, a built-in recipe name or a recipe file (per-layer
    precisions; precision sets what it leaves open).
    emit_onnx: --emit-onnx, a path: also write the quantized model as ONNX
    for other runtimes (QDQ, MatMulNBits).
    calib, calib_offsets, calib_samples, calib_method, calib_table: --calib
    (a folder of samples, or token ids with calib_offsets), ...
    input_shapes: {input: (1, 64) or "1x64"} or {symbolic dim: 64}.
    freeze_inputs: {input: file.npy or array}: the input becomes a constant.
    progress: called with each phase's name as it starts; an exception it
    raises (and Ctrl-C) stops the compile before the next phase.
    device: passed to qopt.load.
    Raises qopt.CompileError with every diagnostic.
    """
    scratch = tempfile.mkdtemp(prefix="qopt-py-")
    owned_dir = None
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
            path = os.path.join(scratch, "model.onnxtxt" if _looks_like_onnx_text(data) else "model.onnx")
            with open(path, "wb") as f:
                f.write(data)
        else:
            path = os.fspath(model)
        if output_dir is None:
            owned_dir = tempfile.mkdtemp(prefix="qopt-artifact-")
            output_dir = os.path.join(owned_dir, "artifact")
        output_dir = os.fspath(output_dir)
        freeze_specs = []
        for input_name, value in (freeze_inputs or {}).items():
            if isinstance(value, np.ndarray):
                npy = os.path.join(scratch, f"freeze-{len(freeze_specs)}.npy")
                np.save(npy, value)
                value = npy
            freeze_specs.append(f"{input_name}={os.fspath(value)}")
        _qopt.compile(
            model=path,
            output_dir=output_dir,
            target=target,
            cpu=cpu,
            features=features,
            name=name,
            force=bool(force),
            input_shapes=[_shape_spec(k, v) for k, v in (input_shapes or {}).items()],
            freeze_inputs=freeze_specs,
            embed_weights=bool(embed_weights),
            opt_level=int(opt_level),
            precision=precision,
            recipe=_optional_path(recipe),
            algorithm=algorithm,
            exclude=exclude,
            emit_onnx=_optional_path(emit_onnx),
            calib=_optional_path(calib),
            calib_offsets=_optional_path(calib_offsets),
            calib_samples=None if calib_samples is None else int(calib_samples),
            calib_method=calib_method,
            calib_table=_optional_path(calib_table),
            verbose=bool(verbose),
            progress=progress,
        )
    except BaseException:
        if owned_dir is not None:
            shutil.rmtree(owned_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        return Artifact(output_dir, device, _owned_dir=owned_dir)
    except BaseException:
        if owned_dir is not None:
            shutil.rmtree(owned_dir, ignore_errors=True)
        raise


def _integers(value, what):
    if isinstance(value, (str, os.PathLike)):
        value = np.load(os.fspath(value))
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"{what} must be integers, got {array.dtype}")
    return np.ascontiguousarray(array.reshape(-1), dtype=np.int64)


def eval_perplexity(artifact, ids, offsets, stories=None, decode=False):
    """A language model's perplexity over token ids, as `qopt eval` measures
    it: stories are ids[offsets[i]:offsets[i+1]], truncated to the model's
    sequence length; token t+1 is scored from logits at t.

    artifact: an Artifact or an artifact folder. ids, offsets: integer arrays
    or .npy paths. stories: "FIRST:END", (first, end) or range (half-open;
    None: all). decode: run a --kv-cache artifact token by token.
    Returns {"perplexity", "mean_nll", "predicted_tokens", "truncated_stories",
    "seq", "first_story", "end_story"}.
    """
    if not isinstance(artifact, Artifact):
        artifact = load(artifact)
    if stories is None:
        spec = ""
    elif isinstance(stories, str):
        spec = stories
    elif isinstance(stories, range):
        if stories.step != 1:
            raise RuntimeError("stories must be a contiguous range")
        spec = f"{stories.start}:{stories.stop}"
    else:
        first, end = stories
        spec = f"{int(first)}:{int(end)}"
    return artifact._native.eval_perplexity(
        _integers(ids, "token ids"), _integers(offsets, "story offsets"), spec, bool(decode)
    )
