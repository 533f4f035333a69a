#include "kernels/dropout.h"

#include "core/parallel.h"

namespace engram::cpu {

void dropout(const Tensor& x, const DropoutMask& mask, double scale, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    scalar_t s = static_cast<scalar_t>(scale);
    int64_t n = x.numel();
    // One Philox call per group of four elements, as on the GPU.
    parallel_for((n + 3) / 4, [&](int64_t group) {
      philox::Uint4 bits = philox::random_bits(mask.seed, mask.stream, static_cast<uint64_t>(group));
      for (int word = 0; word < 4; ++word) {
        int64_t i = 4 * group + word;
        if (i < n) po[i] = dropout_keeps(bits, word, mask.threshold) ? px[i] * s : scalar_t(0);
      }
    });
  });
}

}  // namespace engram::cpu
