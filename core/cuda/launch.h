#pragma once
// The one way engram starts a kernel:
//
//   cuda::launch("scale_kernel", scale_kernel, blocks_for(n), kThreads, 0, x, factor, y, n);
//
// Under nvcc it is `kernel<<<grid, block, shared_bytes, stream()>>>(args...)`;
// in a host build (ENGRAM_CUDA=HOST) the host runtime runs the same kernel on
// the CPU. Both check the launch as a GPU would before starting it (block and
// grid sizes, shared memory, parameter bytes), count it, and name the kernel
// in every error. All launches go to engram's one stream.
#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>

#include "core/cuda/check.h"

namespace engram::cuda {

// What a launch may ask for without opting in (compute capability 9.0).
struct LaunchLimits {
  static constexpr unsigned kMaxThreadsPerBlock = 1024;
  static constexpr unsigned kMaxBlockX = 1024, kMaxBlockY = 1024, kMaxBlockZ = 64;
  static constexpr unsigned kMaxGridX = 2147483647u, kMaxGridYZ = 65535;
  static constexpr size_t kMaxSharedBytes = 48 * 1024;  // static + dynamic, without cudaFuncSetAttribute
  static constexpr size_t kMaxParamBytes = 32764;       // CUDA 12.1+ on Volta and newer
};

// Throws DeviceError naming the kernel when the configuration is one a GPU
// would refuse (cudaErrorInvalidConfiguration and friends).
void check_launch(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes, size_t param_bytes);
void count_launch();

// Defined for the two compilers that compile kernels: nvcc, and the host
// compiler of a host build. Plain .cpp files of an nvcc build see only the
// declarations above.
#if ENGRAM_CUDA_HOST || defined(__CUDACC__)
template <typename... Params, typename... Args>
void launch(const char* kernel_name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
            Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "cuda::launch: wrong number of kernel arguments");
  constexpr size_t param_bytes = (size_t(0) + ... + sizeof(Params));
  check_launch(kernel_name, grid, block, shared_bytes, param_bytes);
  count_launch();
#if ENGRAM_CUDA_HOST
  // The arguments are converted once, as the GPU does when it copies them to
  // constant memory; every thread then calls the kernel with them.
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  host::enqueue_kernel(stream(), kernel_name, grid, block, shared_bytes,
                       [kernel, params] { std::apply(kernel, params); });
#else
  kernel<<<grid, block, shared_bytes, stream()>>>(std::forward<Args>(args)...);
  ENGRAM_CUDA_CHECK_LAUNCH(kernel_name);
#endif
}
#endif

}  // namespace engram::cuda

// Dynamic shared memory (the launch's shared_bytes), declared inside a kernel:
//   ENGRAM_DYNAMIC_SHARED(uint8_t, staged_plane);   // uint8_t* staged_plane
// nvcc needs `extern __shared__`, which has no host equivalent.
#if ENGRAM_CUDA_HOST
#define ENGRAM_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::engram::cuda::host::dynamic_shared())
#else
#define ENGRAM_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif
