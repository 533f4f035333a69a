#include <cstdint>
#include <string>

#include "core/cuda/check.h"
#include "core/cuda/launch.h"
#include "core/cuda_runtime.h"

namespace engram::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line) {
  std::string message = std::string(what) + ": " + cudaGetErrorString(status) + " (" + file + ":" +
                        std::to_string(line) + ")";
  if (status == cudaErrorMemoryAllocation) throw OutOfMemoryError("cuda: " + message);
  throw DeviceError("cuda: " + message);
}

namespace {

Counters& mutable_counters() {
  static Counters c;
  return c;
}

// The pool keeps freed blocks instead of returning them to the driver, so a
// training loop reaches a steady state where no step allocates from the driver.
cudaStream_t create_stream() {
  ENGRAM_CUDA_CHECK(cudaSetDevice(0));
  cudaMemPool_t pool;
  ENGRAM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  uint64_t keep_everything = UINT64_MAX;
  ENGRAM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  cudaStream_t s;
  ENGRAM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

}  // namespace

cudaStream_t stream() {
  static cudaStream_t s = create_stream();
  return s;
}

Counters counters() { return mutable_counters(); }

void count_launch() { ++mutable_counters().launches; }

void* allocate(size_t bytes) {
  void* ptr = nullptr;
  const size_t reserved_before = pool_reserved_bytes();
  cudaError_t status = cudaMallocAsync(&ptr, bytes, stream());
  if (status != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    throw OutOfMemoryError("cuda: out of memory allocating " + std::to_string(bytes >> 20) + " MiB (" +
                           std::to_string(free_bytes >> 20) + " MiB free of " +
                           std::to_string(total_bytes >> 20) + " MiB): " + cudaGetErrorString(status));
  }
  ++mutable_counters().allocations;
  if (pool_reserved_bytes() > reserved_before) ++mutable_counters().pool_growths;
  return ptr;
}

void deallocate(void* ptr) {
  // Never throw from a destructor path; a failing free means the context is gone.
  if (cudaFreeAsync(ptr, stream()) != cudaSuccess) cudaGetLastError();
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
  // The host buffer may be freed as soon as we return.
  ++mutable_counters().host_syncs;
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  ++mutable_counters().host_syncs;
  ++mutable_counters().host_reads;
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void synchronize() {
  ++mutable_counters().host_syncs;
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

size_t pool_reserved_bytes() {
  cudaMemPool_t pool;
  ENGRAM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  uint64_t reserved = 0;
  ENGRAM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  return reserved;
}

}  // namespace engram::cuda
