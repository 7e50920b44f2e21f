//===- GPTQ.h - Hessian-aware integer weight quantization -------*- C++ -*-===//
//
// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers"): quantizes a weight matrix one input
// column at a time and spreads each column's rounding error over the columns
// not yet quantized, weighted by the inverse of the layer's input Gram matrix
// H = XᵀX. The result is an ordinary QuantizedMatrix in RTN's layout, so the
// compiled kernels run it unchanged. Also the H-based error measures that
// GPTQ and AWQ share.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_GPTQ_H
#define QOPT_QUANT_GPTQ_H

#include "qopt/Quant/Quant.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::quant {

/// Output error of a quantized layer on the inputs summarised by H = XᵀX
/// (k x k, row-major): Σ_rows (w_r - q_r) H (w_r - q_r)ᵀ, which equals
/// ||X Wᵀ - X Qᵀ||²_F. With `inputScales` (AWQ) the layer computes
/// (x / s) · Qᵀ, so the effective weight is q(r, i) / s_i.
double layerOutputError(const float *w, const QuantizedMatrix &q,
                        const double *hessian,
                        const float *inputScales = nullptr);

/// Why the Hessian-based methods cannot quantize to `scheme` (only 2- to
/// 8-bit integers are supported), or an empty string when they can.
std::string unsupportedSchemeReason(const WeightScheme &scheme);

/// One clip ratio per (row, group), row-major [rows, numGroups(k)], for
/// quantizeRTN: each group takes the ratio in 1, 1 - maxShrink / grid, ...,
/// 1 - maxShrink (maxShrink < 1) whose quantization error is smallest under
/// the group's diagonal block of H. `w` holds the values that are
/// quantized; with `inputScales` they are W·diag(s) and the error is
/// measured on (w - q) / s, in the basis H was collected in.
std::vector<float> searchClipRatios(const float *w, int64_t rows, int64_t k,
                                    const WeightScheme &scheme,
                                    const double *hessian, int grid,
                                    double maxShrink,
                                    const float *inputScales = nullptr);

struct GPTQOptions {
  /// Fraction of mean(diag H) added to the diagonal, so that H is
  /// invertible and the updates stay bounded. When H is still not positive
  /// definite it is raised tenfold, twice (from 0, to 0.01 then 0.1).
  double dampening = 0.01;
  /// Quantize columns in descending diag(H) order: the most active inputs
  /// go first, while there are many columns left to absorb their error.
  bool actOrder = true;
  /// Group parameters from the original weights before the sweep (as RTN
  /// chooses them). Required with actOrder, whose column order would
  /// otherwise visit a group's columns far apart.
  bool staticGroups = true;
  /// Width of the lazy batches: columns inside a batch are updated at once,
  /// the rest of the matrix once per batch.
  int64_t blockSize = 128;
  /// Choose a clip ratio per (row, group) (searchClipRatios) before the
  /// sweep.
  bool searchClip = false;
  /// The ratio grid of that search.
  int clipGrid = 20;
  double maxShrink = 0.5;
  /// After the sweep: rounds of refinement on the same objective, each a
  /// pass of single-code steps (±1, kept when they lower the row's error
  /// under H) followed by a least-squares refit of the row's group scales
  /// with the codes fixed. 0: the plain GPTQ result.
  int refineRounds = 4;
};

struct GPTQResult {
  QuantizedMatrix matrix;
  /// layerOutputError of the GPTQ and of the plain RTN matrix on H.
  double error = 0, rtnError = 0;
  /// The dampening fraction that made H positive definite.
  double dampeningUsed = 0;
  /// Input channels with diag(H) == 0 (never active during calibration):
  /// their weights cannot affect the error, so, as GPTQ does, H_ii = 1 and
  /// the weights are quantized as 0.
  int64_t deadChannels = 0;
};

/// GPTQ-quantizes the row-major [rows, k] weights `w` (rows = output
/// channels) to `scheme` given H (k x k, row-major). Returns false and sets
/// `error` to a sentence when it cannot run: an unsupported scheme or
/// options, NaN or Inf in `w` or H, or H not positive definite even with
/// the dampening raised (see GPTQOptions::dampening).
bool quantizeGPTQ(const float *w, int64_t rows, int64_t k,
                  const WeightScheme &scheme, const double *hessian,
                  const GPTQOptions &options, GPTQResult &result,
                  std::string &error);

} // namespace qopt::quant

#endif // QOPT_QUANT_GPTQ_H
