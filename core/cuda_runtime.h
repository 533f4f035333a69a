#pragma once
// Host-side CUDA services that core/ needs, declared without CUDA headers so
// that CPU-only code can include this file. Defined in core/cuda/runtime.cpp;
// a CPU-only build has no definitions, so callers guard with ENGRAM_HAS_CUDA.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace engram::cuda {

void* allocate(size_t bytes);   // stream-ordered; throws OutOfMemoryError
void deallocate(void* ptr);     // stream-ordered
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);  // waits for the stream
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void synchronize();             // waits for engram's stream
void fill(void* data, DType dtype, size_t count, double value);
void cast(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t count);
size_t pool_reserved_bytes();   // bytes the allocator's pool currently holds

}  // namespace engram::cuda

namespace engram::cuda {
// What engram's CUDA wrappers have done since the process started. They are
// counted in engram's own code, so the counts mean the same on a GPU and on
// the host runtime; tests assert that a training step adds no host sync and
// no pool growth.
struct Counters {
  uint64_t launches = 0;          // kernels started (cuda::launch)
  uint64_t allocations = 0;       // cuda::allocate calls (served by the stream-ordered pool)
  uint64_t pool_growths = 0;      // allocations that made the pool take memory from the device
  uint64_t host_syncs = 0;        // the host waited for the device: a copy to or from the host, a stream sync
  uint64_t host_reads = 0;        // of which copies from the device to the host
};
Counters counters();
}  // namespace engram::cuda

namespace engram::cuda {
// dst[i] += src[i] for floating dtypes; used by autograd to accumulate gradients.
void accumulate(void* dst, const void* src, DType dtype, size_t count);
}  // namespace engram::cuda

namespace engram::cuda {
// Sets `bit` in *flags (an int32 on the device) when any element of the spans
// (all of `dtype`, f32 or f64) is NaN or infinite; used by core/finite.h.
struct ElementSpan {
  const void* data;
  size_t count;
};
void flag_nonfinite(const std::vector<ElementSpan>& spans, DType dtype, int32_t* flags, int32_t bit);
}  // namespace engram::cuda
