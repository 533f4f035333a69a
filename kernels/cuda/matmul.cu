// CUDA side of linear's bias helpers. Both are bandwidth-bound and small next
// to the GEMM they accompany; the column sum is a shared-memory tree (no
// atomics), so it is deterministic.
#include "kernels/cuda/common.cuh"
#include "kernels/matmul.h"

namespace engram::cuda {
namespace {

__global__ void bias_broadcast_kernel(const float* bias, float* rows, int64_t count, int64_t features) {
  ENGRAM_GRID_STRIDE_LOOP(i, count) rows[i] = bias[i % features];
}

constexpr int kSumColumns = 32;  // columns per block: one warp reads 128 contiguous bytes of a row
constexpr int kSumRows = 8;      // rows in flight per block

// grad_bias[j] = sum_i grad_rows[i, j]. Thread (x, y) sums rows y, y + 8, ...
// of column j; the 8 partial sums of a column are then added as a tree.
__global__ void bias_backward_kernel(const float* grad_rows, float* grad_bias, int64_t n, int64_t features) {
  __shared__ float partial[kSumRows][kSumColumns + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kSumColumns + threadIdx.x;
  float sum = 0.f;
  if (j < features)
    for (int64_t i = threadIdx.y; i < n; i += kSumRows) sum += grad_rows[i * features + j];
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  for (int half = kSumRows / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) partial[threadIdx.y][threadIdx.x] += partial[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && j < features) grad_bias[j] = partial[0][threadIdx.x];
}

}  // namespace

void bias_broadcast(const Tensor& bias, const Tensor& rows) {
  const int64_t count = rows.numel();
  if (count == 0) return;
  launch("bias_broadcast_kernel", bias_broadcast_kernel, blocks_for(count), kThreads, 0, cptr(bias), mptr(rows), count,
         rows.size(1));
}

void bias_backward(const Tensor& grad_rows, const Tensor& grad_bias) {
  const int64_t features = grad_rows.size(1);
  if (features == 0) return;
  const unsigned blocks = static_cast<unsigned>((features + kSumColumns - 1) / kSumColumns);
  launch("bias_backward_kernel", bias_backward_kernel, blocks, dim3(kSumColumns, kSumRows), 0, cptr(grad_rows),
         mptr(grad_bias), grad_rows.size(0), features);
}

}  // namespace engram::cuda
