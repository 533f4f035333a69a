// Elementwise kernels: one grid-stride loop each. They are bandwidth-bound
// and, in a training step, mostly fused into batchnorm and the loss instead.
#include "kernels/cuda/common.cuh"
#include "kernels/elementwise.h"

namespace engram::cuda {
namespace {

template <BinaryOp Op>
__device__ __forceinline__ float apply(float a, float b) {
  if constexpr (Op == BinaryOp::add) return a + b;
  if constexpr (Op == BinaryOp::sub) return a - b;
  return a * b;
}

template <BinaryOp Op>
__global__ void binary_kernel(const float* a, const float* b, float* out, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) out[i] = apply<Op>(a[i], b[i]);
}

__global__ void scale_kernel(const float* x, float factor, float* out, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) out[i] = factor * x[i];
}

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN passes through, as in PyTorch and the CPU reference
}

__global__ void relu_backward_kernel(const float* y, const float* grad_y, float* grad_x, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) grad_x[i] = y[i] > 0.0f ? grad_y[i] : 0.0f;
}

__global__ void add_relu_forward_kernel(const float* a, const float* b, float* y, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) {
    float v = a[i] + b[i];
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  int64_t n = a.numel();
  switch (op) {
    case BinaryOp::add:
      launch("binary_kernel", binary_kernel<BinaryOp::add>, blocks_for(n), kThreads, 0, cptr(a), cptr(b), mptr(out), n);
      break;
    case BinaryOp::sub:
      launch("binary_kernel", binary_kernel<BinaryOp::sub>, blocks_for(n), kThreads, 0, cptr(a), cptr(b), mptr(out), n);
      break;
    case BinaryOp::mul:
      launch("binary_kernel", binary_kernel<BinaryOp::mul>, blocks_for(n), kThreads, 0, cptr(a), cptr(b), mptr(out), n);
      break;
  }
}

void scale(const Tensor& x, double factor, const Tensor& out) {
  int64_t n = x.numel();
  launch("scale_kernel", scale_kernel, blocks_for(n), kThreads, 0, cptr(x), static_cast<float>(factor), mptr(out), n);
}

void relu_forward(const Tensor& x, const Tensor& y) {
  int64_t n = x.numel();
  launch("relu_forward_kernel", relu_forward_kernel, blocks_for(n), kThreads, 0, cptr(x), mptr(y), n);
}

void relu_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x) {
  int64_t n = y.numel();
  launch("relu_backward_kernel", relu_backward_kernel, blocks_for(n), kThreads, 0, cptr(y), cptr(grad_y), mptr(grad_x),
         n);
}

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  int64_t n = a.numel();
  launch("add_relu_forward_kernel", add_relu_forward_kernel, blocks_for(n), kThreads, 0, cptr(a), cptr(b), mptr(y), n);
}

}  // namespace engram::cuda
