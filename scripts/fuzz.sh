#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + UBSan + coverage, in build-fuzz/) and
# runs each one: the ONNX importer, the .npy/.npz/.pb readers, and artifact
# loading from manifest.json.
#
#   scripts/fuzz.sh [SECONDS]          each fuzzer for SECONDS (default 60),
#                                      growing build-fuzz/corpus/
#   scripts/fuzz.sh --short RUNS       the test command's run: each fuzzer for
#                                      RUNS executions from the seeds alone
#                                      with a fixed random seed, so the same
#                                      sources explore the same inputs on any
#                                      machine, however fast
#   scripts/fuzz.sh --runs N [JOBS]    each fuzzer for N executions, split
#                                      over JOBS processes (the campaign)
#
# QOPT_FUZZ_TARGETS picks the fuzzers (default: "onnx-import tensor-file
# manifest").
#
# Seed corpora come from the ONNX backend test data (models and their .pb
# tensors), stories260k from ../shared when present, small .npy/.npz files
# written here, and a real artifact's manifest.json. What the fuzzers add is
# kept in build-fuzz/corpus/. A crash stops the run with its input saved as
# build-fuzz/crash-*: fix it, then copy the input into
# test/fuzz/regressions/<target>/ so that ctest replays it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bdir="$root/build-fuzz"
seconds=60 runs="" jobs=1 short=0
case "${1:-}" in
  --runs) runs="$2"; jobs="${3:-1}" ;;
  --short) short=1; runs="${2:-100000}" ;;
  *) seconds="${1:-60}" ;;
esac

"$root/scripts/deps.sh"
if ! [ -e "$(clang-22 -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
  echo "fuzz: clang-22's libFuzzer runtime is missing (libclang-rt-22-dev)" >&2
  exit 1
fi
cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_CXX_FLAGS=-gline-tables-only -DCMAKE_C_FLAGS=-gline-tables-only \
  -DQOPT_SANITIZE=address,undefined -DQOPT_FUZZ=ON >/dev/null
ninja -C "$bdir" ${QOPT_NINJA_JOBS:+-j "$QOPT_NINJA_JOBS"} qopt-fuzzers

# Seeds (rebuilt each time; small).
seeds="$bdir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{onnx-import,tensor-file,manifest}
data=/usr/share/libonnx-testdata/data
n=0
for m in "$data"/node/*/model.onnx "$data"/simple/*/model.onnx; do
  [ -f "$m" ] || continue
  cp "$m" "$seeds/onnx-import/$(basename "$(dirname "$m")").onnx"
  n=$((n + 1))
done
shared="${QOPT_SHARED_DIR:-$root/../shared}"
for m in stories260k stories260k-kv; do
  if [ -f "$shared/models/stories260k/$m.onnx" ]; then
    cp "$shared/models/stories260k/$m.onnx" "$seeds/onnx-import/"
  fi
done
for f in "$root"/test/Frontend/ONNX/*.onnxtxt; do
  if [ -f "$f" ]; then cp "$f" "$seeds/onnx-import/"; fi
done
# Tensor-file seeds: the first byte picks the reader (0 .npy, 1 .npz, 2 .pb).
i=0
for pb in "$data"/node/test_{add,cast_FLOAT_to_FLOAT16,gather_0,argmax_default_axis_example,and2d}/test_data_set_0/*.pb; do
  if ! [ -f "$pb" ]; then continue; fi
  { printf '\x02'; cat "$pb"; } > "$seeds/tensor-file/pb$i"; i=$((i + 1))
done
/usr/bin/python3 - "$seeds/tensor-file" <<'PY'
import io, sys, numpy as np
out = sys.argv[1]
arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2], dtype=np.int64),
          np.zeros((2, 0, 3), dtype=np.float16), np.array(True), np.arange(6, dtype=np.uint8)]
for k, a in enumerate(arrays):
    b = io.BytesIO(); np.save(b, a)
    open(f"{out}/npy{k}", "wb").write(b"\x00" + b.getvalue())
b = io.BytesIO(); np.savez(b, ids=arrays[1], x=arrays[0])
open(f"{out}/npz0", "wb").write(b"\x01" + b.getvalue())
b = io.BytesIO(); np.savez_compressed(b, x=arrays[0])
open(f"{out}/npz1", "wb").write(b"\x01" + b.getvalue())
PY
# A real artifact for the manifest fuzzer to load, compiled by the ordinary
# build's qopt.
qopt="${QOPT_BIN:-$root/build/bin/qopt}"
[ -x "$qopt" ] || "$root/scripts/build.sh"
art="$bdir/fuzz-artifact"
rm -rf "$art"
"$qopt" "$data/node/test_matmul_2d/model.onnx" -o "$art" >/dev/null
cp "$art/manifest.json" "$seeds/manifest/manifest.json"
export QOPT_FUZZ_ARTIFACT="$art"
echo "fuzz: seeds: $n ONNX models, $(ls "$seeds/tensor-file" | wc -l) tensor files, 1 manifest"

# The fuzzers run sanitized code that calls the uninstrumented LLVM/MLIR
# libraries; leaks are checked (detect_leaks is on by default).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
run() { # target, libFuzzer arguments...
  local t="$1" log="$bdir/logs/$1.$BASHPID.log"
  shift
  if "$bdir/bin/qopt-fuzz-$t" "$@" > "$log" 2>&1; then
    grep -E "^Done|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+.*DONE" "$log" | tail -4
  else
    echo "fuzz: $t FAILED; the report (whole log: $log):" >&2
    grep -E -A60 "ERROR:|SUMMARY|runtime error|==[0-9]+==" "$log" | head -120 >&2
    return 1
  fi
}
rm -rf "$bdir/logs"; mkdir -p "$bdir/logs"
for t in ${QOPT_FUZZ_TARGETS:-onnx-import tensor-file manifest}; do
  corpus="$bdir/corpus/$t"
  if [ "$short" = 1 ]; then
    corpus="$bdir/corpus-short/$t"
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus" "$bdir/crashes/$t"
  flags=(-rss_limit_mb=4096 -timeout=30 -max_len=2097152 -print_final_stats=1
         -artifact_prefix="$bdir/crashes/$t/")
  if [ -n "$runs" ]; then
    echo "fuzz: $t: $runs executions over $jobs processes"
    # JOBS independent processes, each with its share of the executions,
    # sharing the corpus folder (each reads what the others added when it
    # starts; new units are written there as they are found).
    per=$(( (runs + jobs - 1) / jobs ))
    pids=()
    for j in $(seq 2 "$jobs"); do
      run "$t" "${flags[@]}" -runs="$per" -seed="$j" "$corpus" "$seeds/$t" &
      pids+=($!)
    done
    run "$t" "${flags[@]}" -runs="$per" -seed=1 "$corpus" "$seeds/$t" || status=1
    for p in "${pids[@]}"; do wait "$p" || status=1; done
  else
    echo "fuzz: $t: $seconds s"
    run "$t" "${flags[@]}" -max_total_time="$seconds" "$corpus" "$seeds/$t" || status=1
  fi
done
ls "$bdir"/crashes/*/* 2>/dev/null && { echo "fuzz: crashes saved above" >&2; status=1; }
exit $status
