// Depthwise conv2d (groups == C_in, C_out = multiplier * C_in) on CUDA.
//
// With one input channel per group the implicit GEMM degenerates (K = R*S,
// M = multiplier), so depthwise gets direct kernels. They are memory-bound:
// consecutive threads take consecutive pixels of one plane, so loads and
// stores coalesce and each filter value is a broadcast within the warp.
//   forward: one thread per output pixel, sum over its R x S window
//   dgrad:   one thread per input pixel, gathering from every output pixel whose
//            window covers it (no atomics)
//   wgrad:   one block per (filter, tap), a fixed-order tree reduction over
//            batch x output pixels (deterministic)
#include "kernels/cuda/conv2d_depthwise.cuh"

namespace engram::cuda::conv {

namespace {

__global__ void depthwise_forward_kernel(const DepthwiseDims dd, const float* __restrict__ x,
                                         const float* __restrict__ w, const float* __restrict__ bias,
                                         float* __restrict__ y) {
  const ConvDims& d = dd.d;
  const int count = d.batch * d.out_channels * d.out_height * d.out_width;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += blockDim.x * gridDim.x)
    y[i] = depthwise_output(dd, x, w, bias, i);
}

__global__ void depthwise_backward_data_kernel(const DepthwiseDims dd, const float* __restrict__ grad_y,
                                               const float* __restrict__ w, float* __restrict__ grad_x) {
  const ConvDims& d = dd.d;
  const int count = d.batch * d.in_channels * d.height * d.width;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += blockDim.x * gridDim.x)
    grad_x[i] = depthwise_input_gradient(dd, grad_y, w, i);
}

__global__ void depthwise_backward_weight_kernel(const DepthwiseDims dd, const float* __restrict__ grad_y,
                                                 const float* __restrict__ x, float* __restrict__ grad_w) {
  __shared__ float partial[kThreads];
  partial[threadIdx.x] = depthwise_weight_gradient_part(dd, grad_y, x, blockIdx.x, threadIdx.x, blockDim.x);
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {  // fixed-order tree: deterministic
    if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) grad_w[blockIdx.x] = partial[0];
}

}  // namespace

void depthwise_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  DepthwiseDims dd(g);
  int64_t count = g.batch * g.out_channels * g.out_height * g.out_width;
  launch("depthwise_forward_kernel", depthwise_forward_kernel, blocks_for(count), kThreads, 0, dd, x, w, bias, y);
}

void depthwise_backward_data(const Conv2dGeometry& g, const float* grad_y, const float* w, float* grad_x) {
  DepthwiseDims dd(g);
  int64_t count = g.batch * g.in_channels * g.height * g.width;
  launch("depthwise_backward_data_kernel", depthwise_backward_data_kernel, blocks_for(count), kThreads, 0, dd, grad_y,
         w, grad_x);
}

void depthwise_backward_weight(const Conv2dGeometry& g, const float* grad_y, const float* x, float* grad_w) {
  DepthwiseDims dd(g);
  int64_t blocks = g.out_channels * g.kernel_h * g.kernel_w;  // one per weight element
  launch("depthwise_backward_weight_kernel", depthwise_backward_weight_kernel, static_cast<unsigned>(blocks), kThreads,
         0, dd, grad_y, x, grad_w);
}

}  // namespace engram::cuda::conv
