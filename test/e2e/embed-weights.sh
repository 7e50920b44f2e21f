#!/usr/bin/env bash
# An edge build: --embed-weights gives a self-contained object that a plain
# C program links with libc and libm only; its outputs equal the shared-
# library build's (weights.bin, mmapped by qrt) bit for bit.
source "$(dirname "$0")/common.sh"
cat > "$WORK/mlp.onnxtxt" <<'MODEL'
<
  ir_version: 8,
  opset_import: [ "" : 14 ]
>
mlp (float[2, 64] X) => (float[2, 32] Y) {
  Start = Constant <value: tensor = float {0.0}> ()
  Limit = Constant <value: tensor = float {2048.0}> ()
  Step = Constant <value: tensor = float {1.0}> ()
  R = Range(Start, Limit, Step)
  Scale = Constant <value: tensor = float {0.001}> ()
  Rs = Mul(R, Scale)
  Shape = Constant <value: tensor = int64[2] {64, 32}> ()
  W = Reshape(Rs, Shape)
  M = MatMul(X, W)
  Y = Tanh(M)
}
MODEL
"$BIN/qopt" "$WORK/mlp.onnxtxt" -o "$WORK/shared-lib" --name mlp
"$BIN/qopt" "$WORK/mlp.onnxtxt" -o "$WORK/edge" --name mlp --embed-weights
[ ! -e "$WORK/edge/weights.bin" ] || { echo "FAIL: embedded build wrote weights.bin"; exit 1; }
grep -q '"embedded": true' "$WORK/edge/manifest.json"

# Only libc/libm symbols may be undefined in the object (sched_yield is the
# thread barrier's), and a planned
# workspace means no allocator at all for this model.
undefined=$(nm -u "$WORK/edge/mlp.o" | awk '{print $2}' | sort -u | tr '\n' ' ')
for sym in $undefined; do
  case "$sym" in malloc|free|memcpy|memset|memmove|aligned_alloc|sched_yield|*f|exp*|log*|sqrt*|pow*|tanh*|erf*|sin*|cos*) ;;
    *) echo "FAIL: unexpected undefined symbol $sym in mlp.o"; exit 1 ;;
  esac
done

cat > "$WORK/main.c" <<'C'
#include <stdio.h>
#include "mlp.h"
int main(void) {
  static float x[MLP_INPUT0_ELEMENTS], y[MLP_OUTPUT0_ELEMENTS];
  static _Alignas(64) unsigned char workspace[MLP_WORKSPACE_BYTES + 1];
  for (int i = 0; i < MLP_INPUT0_ELEMENTS; ++i) x[i] = (float)(i % 7) * 0.125f - 0.375f;
  const void *in[] = {x};
  void *out[] = {y};
  if (mlp_run(NULL, workspace, in, out) != 0) return 1;
  FILE *f = fopen("y.bin", "wb");
  fwrite(y, sizeof y, 1, f);
  fclose(f);
  return 0;
}
C
cc -O2 -I"$WORK/edge" "$WORK/main.c" "$WORK/edge/mlp.o" -lm -o "$WORK/edge-demo"
(cd "$WORK" && ./edge-demo)

# The same input through qrt and the shared library.
node -e "
  const fs=require('fs');const n=128;const d=new Float32Array(n);
  for(let i=0;i<n;i++) d[i]=(i%7)*0.125-0.375;
  const h=\"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 64), }\";
  const hdr=h+' '.repeat((64-((h.length+11)%64))%64)+'\n';
  const pre=Buffer.alloc(10);pre.write('\x93NUMPY',0,'latin1');pre[6]=1;pre.writeUInt16LE(hdr.length,8);
  fs.writeFileSync('$WORK/x.npy',Buffer.concat([pre,Buffer.from(hdr,'latin1'),Buffer.from(d.buffer)]));"
"$BIN/qopt-run" "$WORK/shared-lib" --input "X=$WORK/x.npy" --output-dir "$WORK/out"
tail -c 256 "$WORK/out/Y.npy" | cmp - "$WORK/y.bin" && echo "PASS: edge object matches the shared library bit for bit"

# Two models in one program: each object defines only its entry points
# (NAME_run, and NAME_run_thread where its kernels split over threads) and
# its buffer descriptor (NAME_abi, which qrt checks the manifest against) as
# global symbols (code generation runs on partitions of the module, whose
# internal symbols are made local again), so their kernels do not clash.
"$BIN/qopt" "$WORK/mlp.onnxtxt" -o "$WORK/edge2" --name mlp2 --embed-weights
globals=$(nm -g --defined-only "$WORK/edge/mlp.o" | awk '{print $3}' | tr '\n' ' ')
[ "$globals" = "mlp_abi mlp_run mlp_run_thread " ] || { echo "FAIL: mlp.o defines globals other than mlp_abi, mlp_run and mlp_run_thread: $globals"; exit 1; }
cat > "$WORK/two.c" <<'C'
#include <string.h>
#include "mlp.h"
#include "mlp2.h"
int main(void) {
  static float x[MLP_INPUT0_ELEMENTS], y1[MLP_OUTPUT0_ELEMENTS], y2[MLP2_OUTPUT0_ELEMENTS];
  static _Alignas(64) unsigned char w1[MLP_WORKSPACE_BYTES + 1], w2[MLP2_WORKSPACE_BYTES + 1];
  for (int i = 0; i < MLP_INPUT0_ELEMENTS; ++i) x[i] = (float)(i % 5) * 0.25f - 0.5f;
  const void *in[] = {x};
  void *o1[] = {y1}, *o2[] = {y2};
  if (mlp_run(NULL, w1, in, o1) != 0 || mlp2_run(NULL, w2, in, o2) != 0) return 1;
  return memcmp(y1, y2, sizeof y1) != 0;
}
C
cc -O2 -I"$WORK/edge" -I"$WORK/edge2" "$WORK/two.c" "$WORK/edge/mlp.o" "$WORK/edge2/mlp2.o" -lm -o "$WORK/two-models"
"$WORK/two-models" && echo "PASS: two models link into one program and agree"

# The header's threaded entry from plain C and pthreads: two threads give
# the one-thread outputs bit for bit.
cat > "$WORK/threads.c" <<'C'
#include <pthread.h>
#include <string.h>
#include "mlp.h"
static float x[MLP_INPUT0_ELEMENTS], y1[MLP_OUTPUT0_ELEMENTS], y2[MLP_OUTPUT0_ELEMENTS];
static _Alignas(64) unsigned char ws[MLP_WORKSPACE_BYTES + 1];
static int64_t sync_words[2];
static const void *in[] = {x};
static void *o2[] = {y2};
static void *worker(void *arg) {
  return (void *)(long)mlp_run_thread(NULL, ws, in, o2, (int)(long)arg, 2, sync_words);
}
int main(void) {
  for (int i = 0; i < MLP_INPUT0_ELEMENTS; ++i) x[i] = (float)(i % 5) * 0.25f - 0.5f;
  void *o1[] = {y1};
  if (mlp_run(NULL, ws, in, o1) != 0) return 1;
  pthread_t t;
  if (pthread_create(&t, NULL, worker, (void *)1L)) return 1;
  int rc0 = mlp_run_thread(NULL, ws, in, o2, 0, 2, sync_words);
  void *rc1;
  pthread_join(t, &rc1);
  return rc0 || rc1 || memcmp(y1, y2, sizeof y1) != 0;
}
C
cc -O2 -pthread -I"$WORK/edge" "$WORK/threads.c" "$WORK/edge/mlp.o" -lm -o "$WORK/threads"
"$WORK/threads" && echo "PASS: mlp_run_thread on two pthreads matches mlp_run"
