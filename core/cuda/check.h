#pragma once
// For CUDA-aware translation units only (kernels/cuda, kernels/vendor, core/cuda).
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace engram::cuda {

// The one stream every engram kernel and copy is queued on (non-blocking).
cudaStream_t stream();

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line);

}  // namespace engram::cuda

// Checks a CUDA runtime call; the error names the call site.
#define ENGRAM_CUDA_CHECK(call)                                                   \
  do {                                                                            \
    cudaError_t engram_status_ = (call);                                          \
    if (engram_status_ != cudaSuccess)                                            \
      ::engram::cuda::throw_cuda_error(engram_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch errors are always checked (cheap, no sync);
// with ENGRAM_CUDA_DEBUG_SYNC defined the stream is also synchronised so that
// execution errors surface at the kernel that caused them.
#ifdef ENGRAM_CUDA_DEBUG_SYNC
#define ENGRAM_CUDA_CHECK_LAUNCH(kernel_name)                                                 \
  do {                                                                                        \
    ENGRAM_CUDA_CHECK(cudaGetLastError());                                                    \
    cudaError_t engram_status_ = cudaStreamSynchronize(::engram::cuda::stream());            \
    if (engram_status_ != cudaSuccess)                                                        \
      ::engram::cuda::throw_cuda_error(engram_status_, kernel_name, __FILE__, __LINE__);      \
  } while (0)
#else
#define ENGRAM_CUDA_CHECK_LAUNCH(kernel_name)                                              \
  do {                                                                                     \
    cudaError_t engram_status_ = cudaGetLastError();                                       \
    if (engram_status_ != cudaSuccess)                                                     \
      ::engram::cuda::throw_cuda_error(engram_status_, kernel_name, __FILE__, __LINE__);   \
  } while (0)
#endif
