#pragma once
// The CUDA building blocks every kernel file shares: warp constants, the
// 16-byte alignment test of the vectorised paths, the device's SM count, and
// the warp and block sums. Included through kernels/cuda/common.cuh by the
// kernels and directly by data/cuda (which sits beside kernels/).
#include <cstdint>

#include "core/cuda/check.h"
#include "core/tensor.h"

namespace engram::cuda {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// True when p can be read or written as float4.
__host__ __device__ inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
inline bool aligned16(const Tensor& t) { return aligned16(t.raw_data()); }

// Streaming multiprocessors of the current device, read once per process.
inline int sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    ENGRAM_CUDA_CHECK(cudaGetDevice(&device));
    ENGRAM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}

// Device code: for nvcc and the host runtime, not for a plain C++ file that
// includes a kernel header for its host-side helpers (test_conv2d_emulation).
#if defined(__CUDACC__) || ENGRAM_CUDA_HOST

template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int lane_mask) {
  return __shfl_xor_sync(kFullMask, v, lane_mask);
}
__device__ __forceinline__ float2 shfl_xor(float2 v, int lane_mask) {
  return make_float2(shfl_xor(v.x, lane_mask), shfl_xor(v.y, lane_mask));
}
template <typename T>
__device__ __forceinline__ T plus(T a, T b) {
  return a + b;
}
__device__ __forceinline__ float2 plus(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }

// Butterfly sum over the 32 lanes of a full warp: every lane gets the total,
// lane 0 in the order ((v0 + v16) + (v8 + v24)) + ..., as a shuffle-down tree would.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = plus(v, shfl_xor(v, offset));
  return v;
}

// Sum over a block of kWarps full warps, in a fixed order; the result is
// valid in thread 0. Every thread of the block calls it; it synchronises
// before returning, so a kernel may call it again.
template <int kWarps, typename T>
__device__ T block_sum(T v) {
  static_assert(kWarps >= 1 && kWarps <= kWarpSize, "a block of 1 to 32 warps");
  __shared__ T warp_totals[kWarps];
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) v = warp_sum(lane < kWarps ? warp_totals[lane] : T{});
  __syncthreads();
  return v;
}

#endif  // defined(__CUDACC__) || ENGRAM_CUDA_HOST

}  // namespace engram::cuda
