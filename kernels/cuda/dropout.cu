// Dropout: one thread per group of four elements, one Philox call per group
// (see kernels/dropout.h for the mask), float4 loads and stores when both
// pointers are 16-byte aligned. Philox's ten rounds cost about as much as the
// memory traffic they replace, so the mask is regenerated in the backward pass
// instead of being stored.
#include "kernels/cuda/common.cuh"
#include "kernels/dropout.h"

namespace engram::cuda {
namespace {

template <bool Vectorised>
__global__ void dropout_kernel(const float* x, float* out, int64_t n, uint64_t seed, uint64_t stream,
                               uint32_t threshold, float scale) {
  int64_t groups = (n + 3) / 4;
  ENGRAM_GRID_STRIDE_LOOP(group, groups) {
    philox::Uint4 bits = philox::random_bits(seed, stream, static_cast<uint64_t>(group));
    int64_t first = 4 * group;
    if (Vectorised && first + 3 < n) {
      float4 v = *reinterpret_cast<const float4*>(x + first);
      v.x = dropout_keeps(bits, 0, threshold) ? v.x * scale : 0.0f;
      v.y = dropout_keeps(bits, 1, threshold) ? v.y * scale : 0.0f;
      v.z = dropout_keeps(bits, 2, threshold) ? v.z * scale : 0.0f;
      v.w = dropout_keeps(bits, 3, threshold) ? v.w * scale : 0.0f;
      *reinterpret_cast<float4*>(out + first) = v;
    } else {
#pragma unroll
      for (int word = 0; word < 4; ++word) {
        int64_t i = first + word;
        if (i < n) out[i] = dropout_keeps(bits, word, threshold) ? x[i] * scale : 0.0f;
      }
    }
  }
}


}  // namespace

void dropout(const Tensor& x, const DropoutMask& mask, double scale, const Tensor& out) {
  int64_t n = x.numel();
  if (n == 0) return;
  unsigned grid = blocks_for((n + 3) / 4);
  float s = static_cast<float>(scale);
  if (aligned16(x.raw_data()) && aligned16(out.raw_data()))
    launch("dropout_kernel", dropout_kernel<true>, grid, kThreads, 0, cptr(x), mptr(out), n, mask.seed, mask.stream,
           mask.threshold, s);
  else
    launch("dropout_kernel", dropout_kernel<false>, grid, kThreads, 0, cptr(x), mptr(out), n, mask.seed, mask.stream,
           mask.threshold, s);
}

}  // namespace engram::cuda
