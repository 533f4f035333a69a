// Device dispatch of the raw GEMM: the CPU reference, or on CUDA engram's
// SGEMM or cuBLAS, as chosen by backend(OpFamily::gemm).
#include "kernels/gemm.h"

#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/dispatch.h"

namespace engram {

template <typename T>
void gemm(Device device, const GemmShape& shape, T alpha, const T* a, const T* b, T beta, T* c) {
  ENGRAM_CHECK(shape.m >= 0 && shape.n >= 0 && shape.k >= 0 && shape.batch >= 0, ValueError, "gemm",
               "expected non-negative sizes, got m=" + std::to_string(shape.m) + " n=" + std::to_string(shape.n) +
                   " k=" + std::to_string(shape.k) + " batch=" + std::to_string(shape.batch));
  if (device.is_cpu()) {
    cpu::gemm<T>(shape, alpha, a, b, beta, c);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
#if ENGRAM_HAS_CUBLAS
    if (backend(OpFamily::gemm) == Backend::vendor) {
      vendor::gemm(shape, alpha, a, b, beta, c);
      return;
    }
#endif
    ENGRAM_CUDA_CALL("gemm", cuda::gemm(shape, alpha, a, b, beta, c));
  } else {
    throw DTypeError(std::string("gemm: the CUDA backend computes in f32, got ") + dtype_name(dtype_of<T>::value) +
                     " (run f64 on the CPU)");
  }
}

template void gemm<float>(Device, const GemmShape&, float, const float*, const float*, float, float*);
template void gemm<double>(Device, const GemmShape&, double, const double*, const double*, double, double*);

}  // namespace engram
