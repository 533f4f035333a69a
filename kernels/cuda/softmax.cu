// Softmax / log_softmax on [N, C], one warp per row (see softmax_rows.cuh).
// The forward reads a row three times (max, sum of exponentials, write); the
// second and third reads hit L1/L2, so DRAM traffic is one read and one write.
#include <cmath>

#include "kernels/cuda/softmax_rows.cuh"
#include "kernels/softmax.h"

namespace engram::cuda {
namespace {

using namespace rowwise;

template <int kVec>
__global__ void softmax_forward_kernel(const float* x, float* y, int64_t rows, int cols, bool log_output) {
  const int64_t row = warp_row();
  const int lane = lane_id();
  if (row >= rows) return;  // the whole warp leaves together, so the shuffles below stay full-warp
  const float* xr = x + row * cols;
  float* yr = y + row * cols;

  float row_max = -INFINITY;
  ENGRAM_ROW_LOOP(j, cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(xr + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k) row_max = fmaxf(row_max, a.v[k]);
  }
  row_max = warp_max(row_max);

  float sum = 0.0f;
  ENGRAM_ROW_LOOP(j, cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(xr + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k) sum += expf(a.v[k] - row_max);
  }
  sum = warp_sum(sum);

  const float log_sum = logf(sum), inv_sum = 1.0f / sum;
  ENGRAM_ROW_LOOP(j, cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(xr + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k) a.v[k] = log_output ? a.v[k] - row_max - log_sum : expf(a.v[k] - row_max) * inv_sum;
    store<kVec>(yr + j, a);
  }
}

template <int kVec>
__global__ void softmax_backward_kernel(const float* y, const float* grad_y, float* grad_x, int64_t rows, int cols,
                                        bool log_output) {
  const int64_t row = warp_row();
  const int lane = lane_id();
  if (row >= rows) return;
  const float* yr = y + row * cols;
  const float* gr = grad_y + row * cols;
  float* gxr = grad_x + row * cols;

  // softmax needs <grad_y, y>; log_softmax needs sum(grad_y).
  float reduced = 0.0f;
  ENGRAM_ROW_LOOP(j, cols, lane, kVec) {
    Pack<kVec> g = load<kVec>(gr + j), out = load<kVec>(yr + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k) reduced += log_output ? g.v[k] : g.v[k] * out.v[k];
  }
  reduced = warp_sum(reduced);

  ENGRAM_ROW_LOOP(j, cols, lane, kVec) {
    Pack<kVec> g = load<kVec>(gr + j), out = load<kVec>(yr + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k)
      g.v[k] = log_output ? g.v[k] - expf(out.v[k]) * reduced : out.v[k] * (g.v[k] - reduced);
    store<kVec>(gxr + j, g);
  }
}

}  // namespace

void softmax_forward(const Tensor& x, const Tensor& y, bool log_output) {
  const int64_t rows = x.size(0);
  const int cols = static_cast<int>(x.size(1));
  if (cols % 4 == 0 && aligned16(x) && aligned16(y)) {
    launch("softmax_forward_kernel", softmax_forward_kernel<4>, row_blocks(rows), kThreads, 0, cptr(x), mptr(y), rows,
           cols, log_output);
  } else {
    launch("softmax_forward_kernel", softmax_forward_kernel<1>, row_blocks(rows), kThreads, 0, cptr(x), mptr(y), rows,
           cols, log_output);
  }
}

void softmax_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x, bool log_output) {
  const int64_t rows = y.size(0);
  const int cols = static_cast<int>(y.size(1));
  if (cols % 4 == 0 && aligned16(y) && aligned16(grad_y) && aligned16(grad_x)) {
    launch("softmax_backward_kernel", softmax_backward_kernel<4>, row_blocks(rows), kThreads, 0, cptr(y), cptr(grad_y),
           mptr(grad_x), rows, cols, log_output);
  } else {
    launch("softmax_backward_kernel", softmax_backward_kernel<1>, row_blocks(rows), kThreads, 0, cptr(y), cptr(grad_y),
           mptr(grad_x), rows, cols, log_output);
  }
}

}  // namespace engram::cuda
