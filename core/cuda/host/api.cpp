#include "core/cuda/host/api.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/cuda/host/scheduler.h"

struct CUstream_st {
  bool capturing = false;
  CUgraph_st* graph = nullptr;  // being captured
};
struct CUevent_st {
  std::chrono::steady_clock::time_point time{};
  bool recorded = false;
};
struct CUgraph_st {
  std::vector<std::function<void()>> steps;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> steps;
};
struct CUmemPoolHandle_st {};

namespace {

constexpr size_t kDeviceMemoryBytes = size_t(16) << 30;
constexpr size_t kAllocationAlignment = 256;  // what cudaMalloc guarantees

// Live "device" allocations, so that copies and frees can be checked.
struct DeviceMemory {
  std::mutex mutex;
  std::map<const char*, size_t> live;  // base -> bytes
  size_t used = 0, reserved = 0, reserved_high = 0;
  int64_t allocations_until_failure = 0;  // fail_allocation_after: > 0 counts down, 0 is off
};
DeviceMemory& memory() {
  static DeviceMemory m;
  return m;
}

bool is_device(const void* ptr, size_t bytes) {
  DeviceMemory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  auto p = static_cast<const char*>(ptr);
  auto it = m.live.upper_bound(p);
  if (it == m.live.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) last_error = e;
  return e;
}

CUmemPoolHandle_st default_pool;

// Captured streams record their work; others run it now.
cudaError_t run_or_capture(cudaStream_t stream, std::function<void()> step) {
  if (stream && stream->capturing) {
    stream->graph->steps.push_back(std::move(step));
    return cudaSuccess;
  }
  step();
  return cudaSuccess;
}

bool capturing(cudaStream_t stream) { return stream && stream->capturing; }

}  // namespace

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (host runtime: a pointer that is not device memory, or a bad size)";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported by the host runtime";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return record(device == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, "engram host runtime (CPU, described as an H100)", sizeof prop->name - 1);
  prop->totalGlobalMem = kDeviceMemoryBytes;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) { return cudaMallocAsync(ptr, bytes, nullptr); }
cudaError_t cudaFree(void* ptr) { return cudaFreeAsync(ptr, nullptr); }

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream) {
  if (capturing(stream)) return record(cudaErrorStreamCaptureUnsupported);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  DeviceMemory& m = memory();
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (m.allocations_until_failure > 0 && --m.allocations_until_failure == 0)
      return record(cudaErrorMemoryAllocation);
    if (bytes > kDeviceMemoryBytes - m.used) return record(cudaErrorMemoryAllocation);
  }
  // The exact size, so that AddressSanitizer's redzone starts at the first byte past it.
  void* p = nullptr;
  if (posix_memalign(&p, kAllocationAlignment, bytes) != 0) return record(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(m.mutex);
  m.live[static_cast<const char*>(p)] = bytes;
  m.used += bytes;
  // A pool that keeps what it was given: it grows only past its high-water mark.
  if (m.used > m.reserved) m.reserved = m.used;
  if (m.reserved > m.reserved_high) m.reserved_high = m.reserved;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  if (capturing(stream)) return record(cudaErrorStreamCaptureUnsupported);
  if (!ptr) return cudaSuccess;
  DeviceMemory& m = memory();
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    auto it = m.live.find(static_cast<const char*>(ptr));
    if (it == m.live.end()) return record(cudaErrorInvalidValue);  // not an allocation, or freed twice
    m.used -= it->second;
    m.live.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  DeviceMemory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  *free_bytes = kDeviceMemoryBytes - m.reserved;
  *total_bytes = kDeviceMemoryBytes;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = is_device(dst, bytes), src_device = is_device(src, bytes);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToHost: ok = !dst_device && !src_device; break;
    case cudaMemcpyHostToDevice: ok = dst_device && !src_device; break;
    case cudaMemcpyDeviceToHost: ok = !dst_device && src_device; break;
    case cudaMemcpyDeviceToDevice: ok = dst_device && src_device; break;
    case cudaMemcpyDefault: break;
  }
  if (!ok) return record(cudaErrorInvalidValue);
  // Only device-to-device copies may join a graph: the others involve host memory.
  if (capturing(stream) && kind != cudaMemcpyDeviceToDevice) return record(cudaErrorStreamCaptureUnsupported);
  return run_or_capture(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device(ptr, bytes)) return record(cudaErrorInvalidValue);
  return run_or_capture(stream, [ptr, value, bytes] { std::memset(ptr, value, bytes); });
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  *pool = &default_pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  (void)value;
  if (pool != &default_pool) return record(cudaErrorInvalidValue);
  return attr == cudaMemPoolAttrReleaseThreshold ? cudaSuccess : record(cudaErrorNotSupported);
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  if (pool != &default_pool) return record(cudaErrorInvalidValue);
  DeviceMemory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  auto* out = static_cast<uint64_t*>(value);
  switch (attr) {
    case cudaMemPoolAttrReservedMemCurrent: *out = m.reserved; break;
    case cudaMemPoolAttrReservedMemHigh: *out = m.reserved_high; break;
    case cudaMemPoolAttrUsedMemCurrent: *out = m.used; break;
    case cudaMemPoolAttrReleaseThreshold: *out = UINT64_MAX; break;
    default: return record(cudaErrorNotSupported);
  }
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  (void)flags;
  *stream = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return capturing(stream) ? record(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (capturing(stream)) return record(cudaErrorStreamCaptureUnsupported);
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event->recorded ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  (void)mode;
  if (!stream || stream->capturing) return record(cudaErrorInvalidValue);
  stream->capturing = true;
  stream->graph = new CUgraph_st;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!stream || !stream->capturing) return record(cudaErrorInvalidValue);
  stream->capturing = false;
  *graph = stream->graph;
  stream->graph = nullptr;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  (void)flags;
  *exec = new CUgraphExec_st{graph->steps};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (capturing(stream)) return record(cudaErrorStreamCaptureUnsupported);
  for (auto& step : exec->steps) step();
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

namespace engram::cuda::host {

void enqueue_kernel(cudaStream_t stream, const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes,
                    std::function<void()> thread_body) {
  run_or_capture(stream, [kernel_name, grid, block, shared_bytes, body = std::move(thread_body)] {
    run_kernel(kernel_name, grid, block, shared_bytes, body);
  });
}

void fail_allocation_after(int64_t count) {
  DeviceMemory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  m.allocations_until_failure = count > 0 ? count : 0;
}

}  // namespace engram::cuda::host
