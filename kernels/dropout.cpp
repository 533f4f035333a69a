#include "kernels/dropout.h"

#include <cmath>
#include <string>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

Tensor apply_mask(const Tensor& x, const DropoutMask& mask, double scale) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  ENGRAM_DISPATCH(dropout, "dropout", x, dropout, x, mask, scale, out);
  return out;
}

}  // namespace

uint32_t dropout_threshold(double p) { return static_cast<uint32_t>(std::llround(p * 16777216.0)); }

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_floating("dropout", "x", x);
  // Written so that NaN fails too.
  ENGRAM_CHECK(p >= 0.0 && p < 1.0, ValueError, "dropout", "p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0) return x;
  DropoutMask mask{gen.seed(), gen.next_stream(), dropout_threshold(p)};
  double scale = 1.0 / (1.0 - p);
  Tensor out = apply_mask(x, mask, scale);
  return autograd::record("dropout", out, {x},
                          [mask, scale](const Tensor& g) { return std::vector<Tensor>{apply_mask(g, mask, scale)}; });
}

}  // namespace engram
