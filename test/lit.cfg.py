# -*- Python -*- lit configuration for qopt's FileCheck tests.
import os
import shutil

import lit.formats

config.name = "qopt"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir", ".onnxtxt", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "conformance", "e2e", "unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "test")

# qopt tools first, then LLVM's FileCheck/not/count.
config.environment["PATH"] = os.pathsep.join(
    [config.qopt_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%shared", config.shared_dir))

if os.path.isdir(os.path.join(config.shared_dir, "models")):
    config.available_features.add("shared-models")
if shutil.which("nvidia-smi"):
    config.available_features.add("cuda-device")
