#!/usr/bin/env python3
"""Interrupting a compile leaves nothing behind.

Compiles stories260k (GPTQ W4A16 with calibration, so the compile goes
through import, calibration, two GPTQ rounds, the quality report and code
generation) over a previous artifact at the same path, and sends SIGINT,
SIGTERM or SIGHUP at several points, found from the phase lines `qopt -v`
prints. After each, the previous artifact must be exactly as it was (or,
when the signal came after the compile had finished, the new one complete),
and no staging folder, set-aside artifact or temporary folder may remain.
Exit 77 (skipped) when ../shared is absent.
"""

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

BIN = os.environ["QOPT_BIN"]
ROOT = os.environ["QOPT_SOURCE_DIR"]
SHARED = os.environ.get("QOPT_SHARED_DIR") or os.path.join(ROOT, "..", "shared")
WORK = os.environ["QOPT_WORK_DIR"]

model = os.path.join(SHARED, "models", "stories260k", "stories260k.onnx")
ids = os.path.join(SHARED, "data", "tinystories-dev.ids.npy")
offsets = os.path.join(SHARED, "data", "tinystories-dev.offsets.npy")
if not os.path.exists(model):
    print("SKIP: %s is absent" % model)
    sys.exit(77)

seed = int(os.environ.get("QOPT_TEST_SEED", time.time_ns() % 100000))
print("seed", seed)
rng = random.Random(seed)

shutil.rmtree(WORK, ignore_errors=True)
parent = os.path.join(WORK, "out")
tmp = os.path.join(WORK, "tmp")
os.makedirs(parent)
os.makedirs(tmp)
out = os.path.join(parent, "model.qopt")
env = dict(os.environ, TMPDIR=tmp)
shapes = ["--input-shape", "batch=1", "--input-shape", "seq=64"]


def tree_digest(path):
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


subprocess.run([BIN + "/qopt", model] + shapes + ["--name=previous", "-o", out],
               env=env, check=True, capture_output=True)
previous = tree_digest(out)

# (phase line to wait for, extra delay range in seconds, signal)
points = [
    ("qopt: importing", (0.0, 0.05), signal.SIGINT),
    ("qopt: calibrating", (0.0, 0.3), signal.SIGTERM),
    ("LLVM optimization and code generation", (0.0, 0.1), signal.SIGINT),
    ("qopt: quantizing (gptq)", (0.0, 0.5), signal.SIGHUP),
    ("qopt: gptq round 2", (0.2, 1.0), signal.SIGINT),
    ("qopt: measuring quality (report)", (0.0, 1.5), signal.SIGTERM),
    ("qopt: compiling for", (0.0, 1.0), signal.SIGINT),
    ("qopt: compiling for", (1.0, 3.5), signal.SIGTERM),
    ("qopt: lowering to LLVM IR", (0.0, 0.5), signal.SIGINT),
]

failures = 0
interrupted = 0
for i, (marker, (lo, hi), sig) in enumerate(points):
    cmd = [BIN + "/qopt", model] + shapes + [
        "--precision=w4a16-g32", "--algorithm=gptq", "--calib=" + ids,
        "--calib-offsets=" + offsets, "--calib-samples=20", "--name=new",
        "-v", "-o", out]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        if marker in line:
            break
    delay = rng.uniform(lo, hi)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.stderr.read()
    rc = proc.wait()
    what = "point %d (%s%+.2f s, %s)" % (i, marker, delay, sig.name)
    leftovers = sorted(n for n in os.listdir(parent) if n != "model.qopt")
    temporaries = sorted(os.listdir(tmp))
    if leftovers or temporaries:
        print("FAIL: %s left %s" % (what, leftovers + temporaries))
        failures += 1
    if rc == -sig:
        interrupted += 1
        if tree_digest(out) != previous:
            print("FAIL: %s changed the previous artifact" % what)
            failures += 1
        else:
            print("ok: %s: stopped, previous artifact intact" % what)
    elif rc == 0:
        # The signal came after the compile: the new artifact is whole.
        names = os.listdir(out)
        if "new.so" not in names or "manifest.json" not in names:
            print("FAIL: %s finished but the artifact is incomplete: %s"
                  % (what, names))
            failures += 1
        else:
            print("ok: %s: finished before the signal" % what)
        subprocess.run([BIN + "/qopt", model] + shapes +
                       ["--name=previous", "-o", out],
                       env=env, check=True, capture_output=True)
        previous = tree_digest(out)
    else:
        print("FAIL: %s: exit status %d, expected death by %s" %
              (what, rc, sig.name))
        print("\n".join(seen[-5:]))
        failures += 1

print("%d of %d points interrupted the compile, %d failures" %
      (interrupted, len(points), failures))
# Most points fall well inside the compile; if none interrupted it, the
# test did not test anything.
if interrupted < len(points) // 2:
    print("FAIL: too few points interrupted the compile")
    failures += 1
sys.exit(1 if failures else 0)
