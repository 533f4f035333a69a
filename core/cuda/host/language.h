#pragma once
// The CUDA C++ language, for .cu sources compiled as plain C++ against the
// host runtime. Qualifiers become nothing (or their C++ meaning), built-in
// variables read the running thread's coordinates, and barriers and warp
// collectives are real synchronisation between the block's fibers
// (scheduler.h). Only what engram's kernels use is here, and each piece
// behaves as the hardware does, including its undefined cases, which are
// reported as errors instead of producing garbage.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/cuda/host/scheduler.h"
#include "core/cuda/host/vector_types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __grid_constant__
// A block's threads run one block at a time on the launching thread, so a
// function-local static is exactly one block's shared memory.
#define __shared__ static
#define __constant__ static

// Built-in variables: the coordinates of the thread the scheduler runs now.
#define threadIdx (::engram::cuda::host::current_thread().thread_idx)
#define blockIdx (::engram::cuda::host::current_block().block_idx)
#define blockDim (::engram::cuda::host::current_block().block_dim)
#define gridDim (::engram::cuda::host::current_block().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::engram::cuda::host::sync_threads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::engram::cuda::host::sync_warp(mask); }
inline void __threadfence() {}  // fibers of one OS thread see every store at once
inline void __threadfence_block() {}

// Warp collectives: every lane the mask names must arrive (scheduler.h).
template <typename T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = warpSize) {
  return ::engram::cuda::host::shuffle(::engram::cuda::host::Shuffle::index, mask, value, src_lane, width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return ::engram::cuda::host::shuffle(::engram::cuda::host::Shuffle::up, mask, value, static_cast<int>(delta), width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return ::engram::cuda::host::shuffle(::engram::cuda::host::Shuffle::down, mask, value, static_cast<int>(delta),
                                       width);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize) {
  return ::engram::cuda::host::shuffle(::engram::cuda::host::Shuffle::bfly, mask, value, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return ::engram::cuda::host::vote(::engram::cuda::host::Vote::ballot, mask, predicate != 0);
}
inline int __any_sync(unsigned mask, int predicate) {
  return ::engram::cuda::host::vote(::engram::cuda::host::Vote::any, mask, predicate != 0) != 0;
}
inline int __all_sync(unsigned mask, int predicate) {
  return ::engram::cuda::host::vote(::engram::cuda::host::Vote::all, mask, predicate != 0) != 0;
}
inline unsigned __activemask() { return ::engram::cuda::host::active_mask(); }

// Atomics: fibers switch only at barriers and collectives, so a plain
// read-modify-write is indivisible.
template <typename T>
T atomicAdd(T* address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <typename T>
T atomicSub(T* address, T value) {
  T old = *address;
  *address = old - value;
  return old;
}
template <typename T>
T atomicMax(T* address, T value) {
  T old = *address;
  if (value > old) *address = value;
  return old;
}
template <typename T>
T atomicMin(T* address, T value) {
  T old = *address;
  if (value < old) *address = value;
  return old;
}
template <typename T>
T atomicExch(T* address, T value) {
  T old = *address;
  *address = value;
  return old;
}
template <typename T>
T atomicOr(T* address, T value) {
  T old = *address;
  *address = old | value;
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  T old = *address;
  if (old == compare) *address = value;
  return old;
}

// Loads, bit casts and integer intrinsics.
template <typename T>
T __ldg(const T* p) {
  return *p;
}
inline float __int_as_float(int v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline float __uint_as_float(unsigned v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline int __float_as_int(float f) {
  int v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}
inline unsigned __float_as_uint(float f) {
  unsigned v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<int64_t>(a) * b) >> 32); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(static_cast<unsigned>(v)); }

// Fast-math intrinsics compute the exact function here: a kernel that is
// right only with the fast approximation is wrong.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
using std::isfinite;
using std::isinf;
using std::isnan;
using std::max;
using std::min;
