// cuBLAS twin of engram's SGEMM: the reference the native kernel is measured
// and checked against. cuBLAS is column-major; a row-major C = op(A) op(B) is
// the column-major C^T = op(B)^T op(A)^T, so the call passes B before A and
// swaps m and n, with every buffer read as stored.
#include <cublas_v2.h>

#include <algorithm>
#include <string>

#include "core/cuda/check.h"
#include "kernels/gemm.h"

namespace engram::vendor {

namespace {

void check_cublas(cublasStatus_t status, const char* call) {
  ENGRAM_CHECK(status == CUBLAS_STATUS_SUCCESS, DeviceError, "gemm (cuBLAS)",
               std::string(call) + " failed: " + cublasGetStatusString(status));
}

// One handle for the process, queued on engram's stream. FP32 math as
// requested: CUBLAS_DEFAULT_MATH keeps SGEMM on the FP32 pipes (TF32 tensor
// cores and the BF16x9 emulation are opt-in modes, left off), so the
// comparison with the native kernel is like for like. The handle is never
// destroyed: it would outlive the CUDA context at exit.
cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    check_cublas(cublasCreate(&created), "cublasCreate");
    check_cublas(cublasSetStream(created, cuda::stream()), "cublasSetStream");
    check_cublas(cublasSetMathMode(created, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return created;
  }();
  return h;
}

}  // namespace

void gemm(const GemmShape& shape, float alpha, const float* a, const float* b, float beta, float* c) {
  if (shape.m == 0 || shape.n == 0 || shape.batch == 0) return;
  // Leading dimensions as stored, at least 1 as cuBLAS requires even for k = 0.
  const int64_t lda = std::max<int64_t>(1, shape.trans_a ? shape.m : shape.k);
  const int64_t ldb = std::max<int64_t>(1, shape.trans_b ? shape.k : shape.n);
  const cublasOperation_t op_b = shape.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = shape.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_cublas(cublasSgemmStridedBatched(handle(), op_b, op_a, static_cast<int>(shape.n), static_cast<int>(shape.m),
                                         static_cast<int>(shape.k), &alpha, b, static_cast<int>(ldb), shape.stride_b, a,
                                         static_cast<int>(lda), shape.stride_a, &beta, c, static_cast<int>(shape.n),
                                         shape.stride_c, static_cast<int>(shape.batch)),
               "cublasSgemmStridedBatched");
}

}  // namespace engram::vendor
