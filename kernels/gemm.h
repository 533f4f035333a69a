#pragma once
// GEMM, the workhorse under matmul, linear and (on the CPU, and for 1x1
// filters on CUDA) conv2d. BLAS-like raw-pointer interface, row-major:
//
//   C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b],   b = 0 .. batch-1
//
// op(A) is [m, k]: A is stored [m, k], or [k, m] when trans_a. op(B) is
// [k, n]: B is stored [k, n], or [n, k] when trans_b. C is [m, n]. Batches
// sit stride_a / stride_b / stride_c elements apart (a stride of 0 reuses
// the same matrix for every batch). Leading dimensions are the stored row
// lengths: no padding between rows.
#include <cstdint>

#include "core/device.h"

namespace engram {

struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// Runs on `device`; on CUDA with the backend chosen for OpFamily::gemm
// (native or cuBLAS). T is float or double on the CPU, float on CUDA.
template <typename T>
void gemm(Device device, const GemmShape& shape, T alpha, const T* a, const T* b, T beta, T* c);

namespace cpu {
template <typename T>
void gemm(const GemmShape& shape, T alpha, const T* a, const T* b, T beta, T* c);
}

namespace cuda {
// engram's handwritten SGEMM.
void gemm(const GemmShape& shape, float alpha, const float* a, const float* b, float beta, float* c);
}

namespace vendor {
// cuBLAS SGEMM (TF32 off), the reference the native kernel is measured against.
void gemm(const GemmShape& shape, float alpha, const float* a, const float* b, float beta, float* c);
}

}  // namespace engram
