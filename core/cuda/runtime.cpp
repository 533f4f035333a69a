#include <cstdint>
#include <cstdio>
#include <string>

#include "core/cuda/check.h"
#include "core/cuda/device_errors.h"
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

std::string mebibytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

Counters& mutable_counters() {
  static Counters c;
  return c;
}

struct Runtime {
  cudaStream_t stream;
  DeviceErrorRecord* error_record;
};

// The pool keeps freed blocks instead of returning them to the driver, so a
// training loop reaches a steady state where no step allocates from the driver.
// The error record is made here, before any kernel can be captured into a graph.
Runtime create_runtime() {
  ENGRAM_CUDA_CHECK(cudaSetDevice(0));
  cudaMemPool_t pool;
  ENGRAM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  uint64_t keep_everything = UINT64_MAX;
  ENGRAM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  Runtime r{};
  ENGRAM_CUDA_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
  void* record = nullptr;
  ENGRAM_CUDA_CHECK(cudaMalloc(&record, sizeof(DeviceErrorRecord)));
  const DeviceErrorRecord none{};
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(record, &none, sizeof none, cudaMemcpyHostToDevice, r.stream));
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(r.stream));
  r.error_record = static_cast<DeviceErrorRecord*>(record);
  return r;
}

const Runtime& runtime() {
  static const Runtime r = create_runtime();
  return r;
}

}  // namespace

cudaStream_t stream() { return runtime().stream; }

DeviceErrorRecord* device_error_record() { return runtime().error_record; }

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
    cudaMemPool_t pool;
    uint64_t in_use = 0;
    if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess)
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &in_use);
    throw OutOfMemoryError("cuda: out of memory allocating " + mebibytes(bytes) + " (engram's pool holds " +
                           mebibytes(reserved_before) + ", " + mebibytes(in_use) + " of it in use; the device has " +
                           mebibytes(free_bytes) + " free of " + mebibytes(total_bytes) +
                           "): " + cudaGetErrorString(status));
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
  throw_recorded_device_error();
}

void throw_recorded_device_error() {
  DeviceErrorRecord found{};
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(&found, device_error_record(), sizeof found, cudaMemcpyDeviceToHost, stream()));
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (found.kind == 0) return;
  const DeviceErrorRecord none{};
  ENGRAM_CUDA_CHECK(cudaMemcpyAsync(device_error_record(), &none, sizeof none, cudaMemcpyHostToDevice, stream()));
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream()));
  throw ValueError("softmax_loss (CUDA): label " + std::to_string(found.value) + " in row " +
                   std::to_string(found.index) + " is outside [0, " + std::to_string(found.bound) +
                   "); that row's loss and gradient are NaN (found on the device, reported at its next read)");
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
