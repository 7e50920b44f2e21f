#!/usr/bin/env bash
# A full disk is a clear error naming the file, never a crash, and leaves no
# partial artifact; a previous artifact at the same path is kept. Runs on
# small tmpfs mounts (needs root's mount in a private mount namespace;
# skipped where that is not allowed).
source "$(dirname "$0")/common.sh"
unshare -m true 2>/dev/null || skip "cannot make a private mount namespace here"
model="$ROOT/test/diagnostics/Inputs/linear.onnxtxt"
rm -rf "$WORK" && mkdir -p "$WORK/mnt"

# Runs "$@" with $WORK/mnt a tmpfs of the given size, in a private mount
# namespace (nothing outside this test sees the mount).
on_tmpfs() {
  local size="$1"; shift
  unshare -m bash -c 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"' \
    on_tmpfs "$size" "$WORK/mnt" "$@"
}

# Too small for the whole artifact: at each size a different file is the
# one that does not fit (the objects, model.o, manifest.json).
for size in 4k 8k 12k; do
  set +e
  on_tmpfs "$size" bash -c '
    "$0" "$1" -o "$2/out" > "$2/../log" 2>&1; echo "rc=$?" >> "$2/../log"
    ls -A "$2" > "$2/../left"' "$BIN/qopt" "$model" "$WORK/mnt"
  set -e
  cat "$WORK/log"
  grep -q "rc=1" "$WORK/log" || { echo "FAIL: $size: expected exit 1"; exit 1; }
  grep -Eq "error: .*cannot write '$WORK/mnt/out/[a-z0-9.]+'.*: No space left on device" "$WORK/log" ||
    { echo "FAIL: $size: no error naming the file"; exit 1; }
  if grep -Eq "LLVM ERROR|Stack dump|Bus error" "$WORK/log"; then
    echo "FAIL: $size: crashed"; exit 1
  fi
  [ ! -s "$WORK/left" ] || { echo "FAIL: $size: left $(cat "$WORK/left")"; exit 1; }
done

# A previous artifact fits, the new one does not: the old one stays whole,
# nothing else is left. stories260k's weights alone are about 1 MB.
if [ -f "$SHARED/models/stories260k/stories260k.onnx" ]; then
  set +e
  on_tmpfs 256k bash -c '
    "$0" "$1" -o "$3/out" --name=first >/dev/null 2>&1 || exit 3
    sha256sum "$3"/out/* > "$3/../before"
    "$0" "$2" --input-shape batch=1 --input-shape seq=16 -o "$3/out" > "$3/../log" 2>&1
    echo "rc=$?" >> "$3/../log"
    sha256sum "$3"/out/* > "$3/../after"
    ls -A "$3" > "$3/../left"' "$BIN/qopt" "$model" \
    "$SHARED/models/stories260k/stories260k.onnx" "$WORK/mnt"
  set -e
  cat "$WORK/log"
  grep -q "rc=1" "$WORK/log" || { echo "FAIL: stories260k: expected exit 1"; exit 1; }
  grep -q "No space left on device" "$WORK/log" || { echo "FAIL: stories260k: no disk-full error"; exit 1; }
  cmp -s "$WORK/before" "$WORK/after" || { echo "FAIL: the previous artifact changed"; exit 1; }
  [ "$(cat "$WORK/left")" = out ] || { echo "FAIL: left $(cat "$WORK/left")"; exit 1; }
fi

# The calibration table is written whole or not at all.
set +e
on_tmpfs 4k bash -c '
  mkdir -p "$3/../calib" && "$0" "$1" -o "$3/../gen" >/dev/null 2>&1 &&
  "$0"-run "$3/../gen" --output-dir "$3/../npy" >/dev/null 2>&1 || exit 3
  cp "$3/../npy/X.npy" "$3/../calib/a.npy"
  head -c 3000 /dev/zero > "$3/filler"
  "$0" "$2" --precision=w8a8-static --calib="$3/../calib" \
    --calib-table="$3/table.json" -o "$3/../w8" > "$3/../log" 2>&1
  echo "rc=$?" >> "$3/../log"
  ls -A "$3" > "$3/../left"' "$BIN/qopt" "$ROOT/test/diagnostics/Inputs/calib-data.onnxtxt" \
  "$model" "$WORK/mnt"
rc=$?
set -e
[ "$rc" = 0 ] || { echo "FAIL: calibration table setup (rc $rc)"; exit 1; }
cat "$WORK/log"
grep -q "rc=1" "$WORK/log" || { echo "FAIL: table: expected exit 1"; exit 1; }
grep -q "cannot write calibration table '$WORK/mnt/table.json': No space left on device" "$WORK/log" ||
  { echo "FAIL: table: no error naming it"; exit 1; }
[ "$(cat "$WORK/left")" = filler ] || { echo "FAIL: table: left $(cat "$WORK/left")"; exit 1; }
echo "PASS"
