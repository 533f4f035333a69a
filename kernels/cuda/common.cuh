#pragma once
// Shared helpers for engram's handwritten kernels. Every kernel is queued on
// cuda::stream() and none synchronises the host.
#include <cstdint>
#include <string>

#include "core/cuda/check.h"
#include "core/cuda/launch.h"
#include "core/cuda/primitives.cuh"
#include "core/tensor.h"

namespace engram::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

inline const float* cptr(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }
inline float* mptr(const Tensor& t) { return static_cast<float*>(t.raw_data()); }

}  // namespace engram::cuda

// for (i in grid-stride range over n)
#define ENGRAM_GRID_STRIDE_LOOP(i, n)                                                              \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n);          \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
