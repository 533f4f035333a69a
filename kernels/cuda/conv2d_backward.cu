// conv2d data and weight gradients on CUDA (implicit GEMM, mappings in
// conv2d_passes.cuh; 1x1 stride-1 data gradients as a batched GEMM), and the
// bias gradient. A 1x1 weight gradient stays on the implicit GEMM: it sums
// over images, which a per-image batched GEMM could only do through one
// partial result per image (a workspace N times the weight) or N launches.
#include <climits>
#include <numeric>

#include "kernels/cuda/conv2d_implicit_gemm.cuh"
#include "kernels/cuda/conv2d_passes.cuh"
#include "kernels/gemm.h"

namespace engram::cuda::conv {

namespace {

// The taps and index arithmetic of one stride phase along one dimension.
struct PhaseAxis {
  int offset = 0;     // a: the phase's first input row (h = hi*stride + a)
  int positions = 0;  // Ha: input rows in this phase
  int tap0 = 0, taps = 0;
  int out_base = 0;  // oh for hi = 0 and the first tap
};

PhaseAxis phase_axis(int a, int size, int kernel, int stride, int pad, int dilation, int tap_step) {
  PhaseAxis axis;
  axis.offset = a;
  axis.positions = a < size ? (size - a + stride - 1) / stride : 0;
  int r0 = 0;
  while (r0 < kernel && ((a + pad - r0 * dilation) % stride + stride) % stride != 0) ++r0;
  axis.tap0 = r0;
  axis.taps = r0 < kernel ? (kernel - 1 - r0) / tap_step + 1 : 0;
  axis.out_base = axis.taps > 0 ? (a + pad - r0 * dilation) / stride : 0;  // exact division
  return axis;
}

}  // namespace

DgradSetup make_dgrad_setup(const Conv2dGeometry& geometry, const float* grad_y, const float* w) {
  ConvDims d(geometry);
  const int tap_step_h = d.stride_h / std::gcd(d.stride_h, d.dilation_h);
  const int tap_step_w = d.stride_w / std::gcd(d.stride_w, d.dilation_w);
  DgradSetup setup;
  // The phases with at least one input pixel (a phase with no taps still writes its zeros).
  for (int a = 0; a < d.stride_h; ++a) {
    PhaseAxis ah = phase_axis(a, d.height, d.kernel_h, d.stride_h, d.pad_h, d.dilation_h, tap_step_h);
    if (ah.positions == 0) continue;
    for (int b = 0; b < d.stride_w; ++b) {
      PhaseAxis aw = phase_axis(b, d.width, d.kernel_w, d.stride_w, d.pad_w, d.dilation_w, tap_step_w);
      if (aw.positions == 0) continue;
      DgradPhase ph;
      ph.gemm_n = d.batch * ah.positions * aw.positions;
      ph.gemm_k = d.out_per_group * ah.taps * aw.taps;
      ph.pixels_div = FastDivmod(ah.positions * aw.positions), ph.wi_div = FastDivmod(aw.positions);
      ph.taps_div = FastDivmod(std::max(1, ah.taps * aw.taps)), ph.tap_s_div = FastDivmod(std::max(1, aw.taps));
      ph.offset_h = a, ph.offset_w = b;
      ph.tap0_h = ah.tap0, ph.tap0_w = aw.tap0;
      ph.out_base_h = ah.out_base, ph.out_base_w = aw.out_base;
      setup.phases.push_back(ph);
      setup.max_n = std::max<int64_t>(setup.max_n, ph.gemm_n);
      setup.max_k = std::max<int64_t>(setup.max_k, ph.gemm_k);
    }
  }
  DgradProblem& c = setup.pass.common;
  c.gemm_m = d.in_per_group;
  c.a.w = w;
  c.a.rows = d.in_per_group;
  c.a.filter_size = d.in_per_group * d.kernel_h * d.kernel_w;
  c.a.kernel_w = d.kernel_w, c.a.kernel_taps = d.kernel_h * d.kernel_w;
  c.a.tap_step_h = tap_step_h, c.a.tap_step_w = tap_step_w;
  c.a.out_per_group = d.out_per_group;
  c.b.grad_y = grad_y;
  c.b.out_channels = d.out_channels, c.b.out_per_group = d.out_per_group;
  c.b.out_height = d.out_height, c.b.out_width = d.out_width;
  c.b.out_step_h = tap_step_h * d.dilation_h / d.stride_h, c.b.out_step_w = tap_step_w * d.dilation_w / d.stride_w;
  c.channels = d.in_channels, c.in_per_group = d.in_per_group, c.height = d.height, c.width = d.width;
  c.stride_h = d.stride_h, c.stride_w = d.stride_w;
  c.split_stride = static_cast<int64_t>(d.batch) * d.in_channels * d.height * d.width;
  return setup;
}

void set_dgrad_output(DgradSetup& setup, float* out) {
  DgradProblem& c = setup.pass.common;
  c.out = out;
  c.vector_store =
      setup.phases.size() == 1 && c.stride_h == 1 && c.stride_w == 1 && (c.height * c.width) % 4 == 0 && aligned16(out);
}

GemmPlan select_dgrad_phases(DgradSetup& setup, const GemmPlan& plan, int groups, int64_t first, int64_t count) {
  for (int64_t i = 0; i < count; ++i) setup.pass.phases[i] = setup.phases[first + i];
  GemmPlan chunk = plan;
  chunk.grid_z = groups * count * plan.splits;
  return chunk;
}

WgradPass make_wgrad_pass(const Conv2dGeometry& geometry, const float* grad_y, const float* x) {
  ConvDims d(geometry);
  WgradPass pass;
  pass.gemm_m = d.out_per_group;
  pass.gemm_n = d.in_per_group * d.kernel_h * d.kernel_w;
  pass.gemm_k = d.batch * d.out_height * d.out_width;
  const int pixels = d.out_height * d.out_width;
  pass.a.grad_y = grad_y;
  pass.a.rows = d.out_per_group, pass.a.out_channels = d.out_channels, pass.a.pixels = pixels;
  pass.a.pixels_div = FastDivmod(pixels);
  WgradInput& in = pass.b;
  in.x = x;
  in.columns = pass.gemm_n;
  in.taps_div = FastDivmod(d.kernel_h * d.kernel_w), in.s_div = FastDivmod(d.kernel_w);
  in.pixels_div = FastDivmod(pixels), in.q_div = FastDivmod(d.out_width);
  in.channels = d.in_channels, in.in_per_group = d.in_per_group, in.height = d.height, in.width = d.width;
  in.stride_h = d.stride_h, in.stride_w = d.stride_w, in.pad_h = d.pad_h, in.pad_w = d.pad_w;
  in.dilation_h = d.dilation_h, in.dilation_w = d.dilation_w;
  pass.split_stride = static_cast<int64_t>(d.out_channels) * pass.gemm_n;
  return pass;
}

void set_wgrad_output(WgradPass& pass, float* out) {
  pass.out = out;
  pass.vector_store = pass.gemm_n % 4 == 0 && aligned16(out);
}

namespace {

void backward_data_pointwise_gemm(const Conv2dGeometry& g, const float* grad_y, const float* w, float* grad_x) {
  int64_t pixels = g.height * g.width;
  GemmShape shape;
  shape.trans_a = true;  // W is stored [K, C]; dgrad multiplies by W^T [C, K]
  shape.m = g.in_channels, shape.n = pixels, shape.k = g.out_channels;
  shape.batch = g.batch;
  shape.stride_a = 0, shape.stride_b = g.out_channels * pixels, shape.stride_c = g.in_channels * pixels;
  cuda::gemm(shape, 1.0f, w, grad_y, 0.0f, grad_x);
}

void backward_data_implicit_gemm(const Conv2dGeometry& geometry, const float* grad_y, const float* w, float* grad_x) {
  DgradSetup setup = make_dgrad_setup(geometry, grad_y, w);
  const int groups = static_cast<int>(geometry.params.groups);
  const int64_t phase_count = static_cast<int64_t>(setup.phases.size());
  GemmPlan plan = plan_implicit_gemm(setup.pass.common.gemm_m, setup.max_n, setup.max_k, groups * phase_count, true,
                                     sm_count());
  const int64_t count = setup.pass.common.split_stride;
  Tensor workspace;
  if (plan.splits > 1) workspace = Tensor::empty({plan.splits * count}, DType::f32, Device::cuda());
  set_dgrad_output(setup, plan.splits > 1 ? mptr(workspace) : grad_x);
  for (int64_t first = 0; first < phase_count; first += kMaxPhases) {
    GemmPlan chunk =
        select_dgrad_phases(setup, plan, groups, first, std::min<int64_t>(kMaxPhases, phase_count - first));
    launch_implicit_gemm(setup.pass, chunk, groups, "conv2d_implicit_gemm_kernel (data gradient)");
  }
  if (plan.splits > 1) reduce_splits(setup.pass.common.out, plan.splits, count, nullptr, 1, 1, grad_x);
}

void backward_weight_implicit_gemm(const Conv2dGeometry& geometry, const float* grad_y, const float* x, float* grad_w) {
  WgradPass pass = make_wgrad_pass(geometry, grad_y, x);
  const int groups = static_cast<int>(geometry.params.groups);
  GemmPlan plan = plan_implicit_gemm(pass.gemm_m, pass.gemm_n, pass.gemm_k, groups, true, sm_count());
  Tensor workspace;
  if (plan.splits > 1) workspace = Tensor::empty({plan.splits * pass.split_stride}, DType::f32, Device::cuda());
  set_wgrad_output(pass, plan.splits > 1 ? mptr(workspace) : grad_w);
  launch_implicit_gemm(pass, plan, groups, "conv2d_implicit_gemm_kernel (weight gradient)");
  if (plan.splits > 1) reduce_splits(pass.out, plan.splits, pass.split_stride, nullptr, 1, 1, grad_w);
}

__global__ void bias_gradient_kernel(const float* __restrict__ grad_y, int batch, int channels, int pixels,
                                     float* __restrict__ grad_bias) {
  __shared__ float partial[kThreads];
  const int channel = blockIdx.x;
  float total = 0.0f;
  for (int img = 0; img < batch; ++img) {
    const float* plane = grad_y + (static_cast<int64_t>(img) * channels + channel) * pixels;
    for (int i = threadIdx.x; i < pixels; i += blockDim.x) total += plane[i];
  }
  partial[threadIdx.x] = total;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {  // fixed-order tree: deterministic
    if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) grad_bias[channel] = partial[0];
}

}  // namespace

void bias_gradient(const float* grad_y, int batch, int channels, int pixels, float* grad_bias) {
  launch("bias_gradient_kernel", bias_gradient_kernel, channels, kThreads, 0, grad_y, batch, channels, pixels,
         grad_bias);
}

}  // namespace engram::cuda::conv

namespace engram::cuda {

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params,
                          const Tensor& grad_x) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_data", grad_x.shape(), weight.shape(), params);
  conv::check_int32_indexing("conv2d_backward_data", g);
  if (conv::is_depthwise(g))
    conv::depthwise_backward_data(g, cptr(grad_y), cptr(weight), mptr(grad_x));
  else if (conv::is_pointwise_gemm(g))
    conv::backward_data_pointwise_gemm(g, cptr(grad_y), cptr(weight), mptr(grad_x));
  else
    conv::backward_data_implicit_gemm(g, cptr(grad_y), cptr(weight), mptr(grad_x));
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_weight", x.shape(), grad_weight.shape(), params);
  conv::check_int32_indexing("conv2d_backward_weight", g);
  if (conv::is_depthwise(g))
    conv::depthwise_backward_weight(g, cptr(grad_y), cptr(x), mptr(grad_weight));
  else
    conv::backward_weight_implicit_gemm(g, cptr(grad_y), cptr(x), mptr(grad_weight));
}

void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias) {
  ENGRAM_CHECK(grad_y.numel() < (int64_t(1) << 31), ValueError, "conv2d_backward_bias",
               "expected fewer than 2^31 elements, got " + std::to_string(grad_y.numel()));
  conv::bias_gradient(cptr(grad_y), static_cast<int>(grad_y.size(0)), static_cast<int>(grad_y.size(1)),
                      static_cast<int>(grad_y.size(2) * grad_y.size(3)), mptr(grad_bias));
}

}  // namespace engram::cuda
