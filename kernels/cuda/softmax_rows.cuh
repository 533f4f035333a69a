#pragma once
// Warp-per-row helpers of the softmax family (kernels/cuda/softmax.cu and
// kernels/cuda/loss.cu).
//
// Rows of logits are short (10 to 1000 classes), so one warp owns one row:
// every reduction stays in registers (butterfly shuffles leave the result in
// all lanes; no shared memory, no atomics, deterministic), and a block of
// kThreads covers kRowsPerBlock rows. When the row length is a multiple of 4
// and every pointer is 16-byte aligned, rows move as float4 (kVec = 4).
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace engram::cuda::rowwise {

constexpr int kRowsPerBlock = kThreads / kWarpSize;

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = fmaxf(v, shfl_xor(v, offset));
  return v;
}

// kVec consecutive floats; kVec = 4 is one 16-byte access.
template <int kVec>
struct Pack {
  float v[kVec];
};

template <int kVec>
__device__ __forceinline__ Pack<kVec> load(const float* p) {
  Pack<kVec> pack;
  if constexpr (kVec == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    pack.v[0] = q.x, pack.v[1] = q.y, pack.v[2] = q.z, pack.v[3] = q.w;
  } else {
    pack.v[0] = *p;
  }
  return pack;
}

template <int kVec>
__device__ __forceinline__ void store(float* p, const Pack<kVec>& pack) {
  if constexpr (kVec == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(pack.v[0], pack.v[1], pack.v[2], pack.v[3]);
  } else {
    *p = pack.v[0];
  }
}

// The row this thread's warp owns, and the thread's lane in it.
__device__ __forceinline__ int64_t warp_row() {
  return blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
}
__device__ __forceinline__ int lane_id() { return threadIdx.x % kWarpSize; }

inline unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace engram::cuda::rowwise

// The lane visits columns [j, j + kVec) for j = lane*kVec, lane*kVec + 32*kVec, ...
// (cols must be a multiple of kVec): a warp reads 32*kVec consecutive floats per step.
#define ENGRAM_ROW_LOOP(j, cols, lane, kVec) \
  for (int j = (lane) * (kVec); j < (cols); j += ::engram::cuda::kWarpSize * (kVec))
