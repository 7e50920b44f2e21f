# -*- Python -*- lit configuration for qopt's FileCheck tests.
import os
import shutil
import subprocess

import lit.formats

config.name = "qopt"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir", ".onnxtxt", ".test"]
config.excludes = ["Inputs", "fuzz", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "conformance", "e2e", "unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "test")

# qopt tools first, then LLVM's FileCheck/not/count.
config.environment["PATH"] = os.pathsep.join(
    [config.qopt_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%shared", config.shared_dir))

if os.path.isdir(os.path.join(config.shared_dir, "models")):
    config.available_features.add("shared-models")
# CUDA's ptxas (the NVPTX target's PTX is assembled with it in CI): looked
# up like the target does, $CUDA_HOME/bin, then PATH, then /usr/local/cuda.
ptxas = None
for candidate in [os.path.join(os.environ.get("CUDA_HOME", ""), "bin", "ptxas")
                  if os.environ.get("CUDA_HOME") else None,
                  shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"]:
    if candidate and os.access(candidate, os.X_OK):
        ptxas = candidate
        break
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
if shutil.which("spirv-val"):
    config.available_features.add("spirv-val")
# A Vulkan device qrt can run SPIR-V artifacts on (Mesa's lavapipe counts).
try:
    devices = subprocess.run(
        [os.path.join(config.qopt_tools_dir, "qopt-run"), "--list-devices"],
        capture_output=True, text=True, timeout=120).stdout
    if any(line.startswith("vulkan:") for line in devices.splitlines()):
        config.available_features.add("vulkan")
    # A CUDA device qrt can run NVPTX artifacts on (libcuda.so.1 and a GPU).
    if any(line.startswith("cuda:") for line in devices.splitlines()):
        config.available_features.add("cuda-device")
except (OSError, subprocess.SubprocessError):
    pass
