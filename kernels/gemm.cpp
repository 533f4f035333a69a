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
  // cuda:: and vendor:: take float only, so for double only the CPU branch
  // compiles; dispatch_target still raises the DTypeError for CUDA data.
  if constexpr (std::is_same_v<T, float>) {
    ENGRAM_DISPATCH(gemm, "gemm", (Placement{device, DType::f32}), gemm, shape, alpha, a, b, beta, c);
  } else {
    dispatch_target(OpFamily::gemm, "gemm", Placement{device, dtype_of<T>::value});
    cpu::gemm<T>(shape, alpha, a, b, beta, c);
  }
}

template void gemm<float>(Device, const GemmShape&, float, const float*, const float*, float, float*);
template void gemm<double>(Device, const GemmShape&, double, const double*, const double*, double, double*);

}  // namespace engram
