/*===- qrt.h - qopt runtime C API ------------------------------*- C -*-===*\
|*                                                                        *|
|* Loads a compiled qopt artifact folder (manifest.json, model.so,        *|
|* weights.bin) and runs it on caller-owned, contiguous buffers.          *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_RUNTIME_QRT_H
#define QOPT_RUNTIME_QRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qrt_model qrt_model;

/** Static description of one input or output. */
typedef struct qrt_tensor_info {
  const char *name;
  const char *dtype;     /* "float32", "int64", "bool", ... */
  int rank;
  const int64_t *shape;  /* rank entries */
  size_t element_size;   /* bytes per element */
  size_t num_elements;
} qrt_tensor_info;

/** Loads the artifact in `dir`. Returns NULL and writes a message to
 *  `error` (if non-NULL) on failure. */
qrt_model *qrt_load(const char *dir, char *error, size_t error_size);
/** Like qrt_load, on a named device: "cpu" (x86 artifacts), "vulkan"
 *  (SPIR-V artifacts, on the device QRT_VULKAN_DEVICE names: an index or
 *  part of the name; default the first), "cuda" (NVPTX artifacts, on the
 *  device QRT_CUDA_DEVICE names: an index; default 0; a device older than
 *  the artifact's sm is refused), or NULL/"" for the one the artifact was
 *  compiled for. An artifact for another device is refused.
 *  libvulkan.so.1 is loaded only for SPIR-V artifacts, libcuda.so.1 only
 *  for NVPTX artifacts. */
qrt_model *qrt_load_on_device(const char *dir, const char *device, char *error,
                              size_t error_size);
void qrt_free(qrt_model *model);

size_t qrt_num_inputs(const qrt_model *model);
size_t qrt_num_outputs(const qrt_model *model);
/** Returns 0 on success, -1 if the index is out of range. */
int qrt_input_info(const qrt_model *model, size_t index, qrt_tensor_info *info);
int qrt_output_info(const qrt_model *model, size_t index, qrt_tensor_info *info);

/** Runs the model. `inputs` and `outputs` hold one pointer per tensor, in
 *  manifest order, each to a contiguous row-major buffer of the declared
 *  shape and type. Returns 0 on success, otherwise a QRT_ERROR_* code with
 *  the reason in qrt_last_error(). An index input (token ids, say) holding
 *  a value outside what the node it feeds accepts ([-size, size) for
 *  Gather) is refused before anything runs, as ONNX Runtime does. The
 *  model's workspace belongs to `model`: do not run one qrt_model from two
 *  threads at once (load it twice instead). */
int qrt_run(qrt_model *model, const void *const *inputs, void *const *outputs);
/** qrt_run's failures. */
#define QRT_ERROR_INDEX (-2)  /* an index input out of range */
#define QRT_ERROR_DEVICE (-3) /* the Vulkan or CUDA device failed */
#define QRT_ERROR_ARGUMENT (-4) /* a bad argument (qrt_set_threads) */

/** Runs `model`'s later qrt_run calls on `threads` threads (1 by default):
 *  the caller's and threads - 1 that qrt starts and keeps parked between
 *  runs. The outputs are the same for every thread count, bit for bit.
 *  Returns the count now in effect: 1 for a model whose code does not
 *  split (a device model, or code compiled for one thread), or
 *  QRT_ERROR_ARGUMENT for threads < 1. */
int qrt_set_threads(qrt_model *model, int threads);
/** The thread count qrt_run uses for `model`. */
int qrt_threads(const qrt_model *model);
/** Why the last qrt_run on `model` failed ("" after a success): names the
 *  input, the element, the value and the ONNX node for an index out of
 *  range. Valid until the next qrt_run or qrt_free. */
const char *qrt_last_error(const qrt_model *model);

/** The artifact's target triple and CPU as recorded in its manifest. */
const char *qrt_target(const qrt_model *model);
/** Writes one line per device ("cpu", "vulkan:<index>: <name>",
 *  "cuda:<index>: <name> (sm_XY)") into `buffer`, and a line starting with
 *  "# " saying why Vulkan or CUDA is unusable when it is; returns the
 *  number of devices. */
size_t qrt_list_devices(char *buffer, size_t size);
/** Where the model runs: "cpu", "vulkan:<device name>" or
 *  "cuda:<device name> (sm_XY)". */
const char *qrt_device(const qrt_model *model);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_RUNTIME_QRT_H */
