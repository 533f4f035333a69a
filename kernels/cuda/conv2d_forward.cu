// conv2d forward on CUDA, and the pieces every pass shares (launch planning,
// split-K reduction, 32-bit geometry). The GEMM mapping of the forward pass is
// described in conv2d_passes.cuh.
//
// Dispatch: depthwise convolutions have their own direct kernels
// (conv2d_depthwise.cu); a 1x1 stride-1 unpadded convolution is a batched
// GEMM per image, y[img] [K, P*Q] = W [K, C] @ x[img] [C, H*W], run by
// cuda::gemm; everything else runs the implicit GEMM.
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "kernels/cuda/conv2d_implicit_gemm.cuh"
#include "kernels/cuda/conv2d_passes.cuh"
#include "kernels/gemm.h"

namespace engram::cuda::conv {

ConvDims::ConvDims(const Conv2dGeometry& g) {
  auto i32 = [](int64_t v) { return static_cast<int>(v); };
  batch = i32(g.batch), in_channels = i32(g.in_channels), height = i32(g.height), width = i32(g.width);
  out_channels = i32(g.out_channels), kernel_h = i32(g.kernel_h), kernel_w = i32(g.kernel_w);
  out_height = i32(g.out_height), out_width = i32(g.out_width);
  const Conv2dParams& p = g.params;
  stride_h = i32(p.stride_h), stride_w = i32(p.stride_w), pad_h = i32(p.pad_h), pad_w = i32(p.pad_w);
  dilation_h = i32(p.dilation_h), dilation_w = i32(p.dilation_w);
  groups = i32(p.groups), in_per_group = i32(g.in_channels_per_group()),
  out_per_group = i32(g.out_channels_per_group());
}

void check_int32_indexing(const char* op, const Conv2dGeometry& g) {
  const int64_t limit = int64_t(1) << 30;  // headroom for offsets that step past an edge before the bounds test
  int64_t x = g.batch * g.in_channels * g.height * g.width;
  int64_t y = g.batch * g.out_channels * g.out_height * g.out_width;
  int64_t w = g.out_channels * g.in_channels_per_group() * g.kernel_h * g.kernel_w;
  ENGRAM_CHECK(x < limit && y < limit && w < limit, ValueError, op,
               "the CUDA kernels index tensors with 32-bit integers; expected fewer than 2^30 elements per tensor, "
               "got input " +
                   std::to_string(x) + ", output " + std::to_string(y) + ", weight " + std::to_string(w));
}

GemmPlan make_plan(int tile, int splits, int64_t m, int64_t n, int64_t k, int64_t batches) {
  GemmPlan plan;
  plan.tile = tile;
  if (splits > 1) {
    int64_t k_per_split = (k + splits - 1) / splits;
    k_per_split = std::max<int64_t>(kTileK, (k_per_split + kTileK - 1) / kTileK * kTileK);
    plan.splits = static_cast<int>(std::max<int64_t>(1, (k + k_per_split - 1) / k_per_split));
    plan.k_per_split = static_cast<int>(k_per_split);
  }
  if (plan.splits == 1) plan.k_per_split = static_cast<int>(std::max<int64_t>(k, 1));
  plan.grid_x = (n + kTiles[tile].bn - 1) / kTiles[tile].bn;
  plan.grid_y = (m + kTiles[tile].bm - 1) / kTiles[tile].bm;
  plan.grid_z = batches * plan.splits;
  return plan;
}

// Estimated cycles on the busiest SM for each tile shape and split count:
// its blocks' multiply-adds at 128 FMA/cycle, scaled by the tile's
// efficiency and slowed when too few blocks share the SM to hide latency;
// plus, for split-K, writing and re-reading the partial outputs
// (~1.5 KB/cycle device-wide) and one more launch. A guess to be tuned
// against measurements, not a law.
GemmPlan plan_implicit_gemm(int64_t m, int64_t n, int64_t k, int64_t batches, bool allow_split, int sms) {
  const double kMaxSplitWorkspace = double(1 << 26);  // floats (256 MB) of split-K partial outputs
  GemmPlan best;
  double best_cost = std::numeric_limits<double>::infinity();
  for (int tile = 0; tile < 4; ++tile) {
    const TileInfo& t = kTiles[tile];
    for (int splits = 1; splits <= (allow_split ? 128 : 1); splits *= 2) {
      GemmPlan plan = make_plan(tile, splits, m, n, k, batches);
      if (splits > 1 && (plan.splits < splits || plan.k_per_split < 64)) break;  // too little work per split
      if (splits > 1 && static_cast<double>(plan.splits) * m * n * batches > kMaxSplitWorkspace) break;
      if (splits > 1 && plan.grid_z > 65535) break;  // gridDim.z limit
      double per_sm = std::ceil(static_cast<double>(plan.grid_x * plan.grid_y * plan.grid_z) / sms);
      double occupancy = std::min(1.0, per_sm / t.blocks_per_sm);
      double cost =
          per_sm * t.bm * t.bn * static_cast<double>(plan.k_per_split) / (128.0 * t.efficiency * std::sqrt(occupancy));
      if (plan.splits > 1) cost += 4.0 * static_cast<double>(plan.splits + 1) * m * n * batches / 1500.0 + 4000.0;
      if (cost < best_cost) best_cost = cost, best = plan;
    }
  }
  return best;
}

ForwardPass make_forward_pass(const Conv2dGeometry& geometry, const float* x, const float* w) {
  ConvDims d(geometry);
  ForwardPass pass;
  pass.gemm_m = d.out_per_group;
  pass.gemm_n = d.batch * d.out_height * d.out_width;
  pass.gemm_k = d.in_per_group * d.kernel_h * d.kernel_w;
  pass.a = {w, d.out_per_group, pass.gemm_k};
  ForwardInput& in = pass.b;
  in.x = x;
  in.columns = pass.gemm_n;
  in.pixels_div = FastDivmod(d.out_height * d.out_width), in.q_div = FastDivmod(d.out_width);
  in.taps_div = FastDivmod(d.kernel_h * d.kernel_w), in.s_div = FastDivmod(d.kernel_w);
  in.channels = d.in_channels, in.height = d.height, in.width = d.width, in.in_per_group = d.in_per_group;
  in.stride_h = d.stride_h, in.stride_w = d.stride_w, in.pad_h = d.pad_h, in.pad_w = d.pad_w;
  in.dilation_h = d.dilation_h, in.dilation_w = d.dilation_w;
  pass.out_channels = d.out_channels;
  pass.pixels = d.out_height * d.out_width;
  pass.pixels_div = FastDivmod(pass.pixels);
  pass.split_stride = static_cast<int64_t>(d.batch) * d.out_channels * pass.pixels;
  return pass;
}

void set_forward_output(ForwardPass& pass, float* out, const float* bias) {
  pass.out = out;
  pass.bias = bias;
  pass.vector_store = pass.pixels % 4 == 0 && aligned16(out);
}

namespace {

__global__ void reduce_splits_kernel(const float* __restrict__ partial, int splits, int64_t count,
                                     const float* __restrict__ bias, int inner, int channels, float* __restrict__ out) {
  ENGRAM_GRID_STRIDE_LOOP(i, count) {
    float total = 0.0f;
    for (int s = 0; s < splits; ++s) total += partial[s * count + i];
    if (bias) total += bias[(i / inner) % channels];
    out[i] = total;
  }
}

__global__ void add_channel_bias_kernel(float* __restrict__ y, const float* __restrict__ bias, int64_t count,
                                        int pixels, int channels) {
  ENGRAM_GRID_STRIDE_LOOP(i, count) y[i] += bias[(i / pixels) % channels];
}

void forward_pointwise_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  int64_t pixels = g.height * g.width;
  GemmShape shape;
  shape.m = g.out_channels, shape.n = pixels, shape.k = g.in_channels;
  shape.batch = g.batch;
  shape.stride_a = 0, shape.stride_b = g.in_channels * pixels, shape.stride_c = g.out_channels * pixels;
  cuda::gemm(shape, 1.0f, w, x, 0.0f, y);
  if (bias) {
    int64_t count = g.batch * g.out_channels * pixels;
    launch("add_channel_bias_kernel", add_channel_bias_kernel, blocks_for(count), kThreads, 0, y, bias, count,
           static_cast<int>(pixels), static_cast<int>(g.out_channels));
  }
}

void forward_implicit_gemm(const Conv2dGeometry& geometry, const float* x, const float* w, const float* bias,
                           float* y) {
  ForwardPass pass = make_forward_pass(geometry, x, w);
  const int groups = static_cast<int>(geometry.params.groups);
  GemmPlan plan = plan_implicit_gemm(pass.gemm_m, pass.gemm_n, pass.gemm_k, groups, true, sm_count());
  Tensor workspace;
  if (plan.splits > 1) {
    workspace = Tensor::empty({plan.splits * pass.split_stride}, DType::f32, Device::cuda());
    set_forward_output(pass, mptr(workspace), nullptr);
  } else {
    set_forward_output(pass, y, bias);
  }
  launch_implicit_gemm(pass, plan, groups, "conv2d_implicit_gemm_kernel (forward)");
  if (plan.splits > 1) reduce_splits(pass.out, plan.splits, pass.split_stride, bias, pass.pixels, pass.out_channels, y);
}

}  // namespace

void reduce_splits(const float* partial, int splits, int64_t count, const float* bias, int inner, int channels,
                   float* out) {
  launch("reduce_splits_kernel", reduce_splits_kernel, blocks_for(count), kThreads, 0, partial, splits, count, bias,
         inner, channels, out);
}

}  // namespace engram::cuda::conv

namespace engram::cuda {

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y) {
  Conv2dGeometry g = conv2d_geometry("conv2d", x.shape(), weight.shape(), params);
  conv::check_int32_indexing("conv2d", g);
  const float* b = bias.defined() ? cptr(bias) : nullptr;
  if (conv::is_depthwise(g))
    conv::depthwise_forward(g, cptr(x), cptr(weight), b, mptr(y));
  else if (conv::is_pointwise_gemm(g))
    conv::forward_pointwise_gemm(g, cptr(x), cptr(weight), b, mptr(y));
  else
    conv::forward_implicit_gemm(g, cptr(x), cptr(weight), b, mptr(y));
}

}  // namespace engram::cuda
