// Batch normalisation on CUDA (float32, NCHW). A channel's N*H*W values sit in
// N contiguous runs of H*W, C*H*W apart. Each pass is one of two shapes:
//
//  * per-channel reductions (batch statistics forward, sum(g) and
//    sum(g * (x - mean)) backward) on a grid of (splits, C) blocks: block
//    (s, c) reduces the s-th slice of channel c into one partial, and a
//    finalize kernel (a thread per channel) combines the partials in a fixed
//    order. No float atomics, so results are deterministic run to run.
//    Statistics use Welford's one-pass update per thread, merged across
//    threads, warps and blocks with Chan's formula, which stays accurate when
//    the mean is large compared to the spread.
//  * elementwise passes (normalise + relu / add+relu forward, grad_x and
//    grad_residual backward) over the whole tensor, 16-byte vectors when H*W
//    is a multiple of 4 and the pointers are aligned.
//
// The running-statistics update happens in the finalize kernel, on the
// device: nothing here synchronises the host.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/batchnorm.h"
#include "kernels/cuda/common.cuh"

namespace engram::cuda {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kReduceWarps = kReduceThreads / kWarpSize;
constexpr int64_t kMaxSplits = 128;  // partials per channel, merged serially by the finalize kernel

// ---- vector access: VEC consecutive floats, 16-byte aligned when VEC == 4 ----

template <int VEC>
__device__ __forceinline__ void load_vec(const float* p, float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] = p[k];
  }
}

template <int VEC>
__device__ __forceinline__ void store_vec(float* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) p[k] = v[k];
  }
}

// ---- Welford states ----

struct Welford {
  float mean, m2, count;
};

// Chan et al.'s pairwise combination of two partial states.
__device__ __forceinline__ Welford welford_merge(const Welford& a, const Welford& b) {
  const float count = a.count + b.count;
  if (count == 0.0f) return a;
  const float delta = b.mean - a.mean;
  const float b_share = b.count / count;
  return {a.mean + delta * b_share, a.m2 + b.m2 + delta * delta * a.count * b_share, count};
}

// Adds VEC values: a single value is Welford's update; a vector's exact
// two-pass state is merged in whole, one division per vector instead of VEC.
template <int VEC>
__device__ __forceinline__ void welford_add(Welford& s, const float (&v)[VEC]) {
  if constexpr (VEC == 1) {
    s.count += 1.0f;
    const float delta = v[0] - s.mean;
    s.mean += delta / s.count;
    s.m2 += delta * (v[0] - s.mean);
  } else {
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < VEC; ++k) sum += v[k];
    const float mean = sum * (1.0f / VEC);
    float m2 = 0.0f;
#pragma unroll
    for (int k = 0; k < VEC; ++k) m2 = fmaf(v[k] - mean, v[k] - mean, m2);
    s = welford_merge(s, Welford{mean, m2, static_cast<float>(VEC)});
  }
}

__device__ __forceinline__ Welford shfl_down(const Welford& s, int offset) {
  return {__shfl_down_sync(kFullMask, s.mean, offset), __shfl_down_sync(kFullMask, s.m2, offset),
          __shfl_down_sync(kFullMask, s.count, offset)};
}

// Block-wide merge (blockDim.x == kReduceThreads); the result is valid in thread 0.
__device__ Welford block_merge(Welford s) {
  __shared__ Welford warp_states[kReduceWarps];
  for (int offset = 16; offset > 0; offset >>= 1) s = welford_merge(s, shfl_down(s, offset));
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) warp_states[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < kReduceWarps ? warp_states[lane] : Welford{0.0f, 0.0f, 0.0f};
    for (int offset = kReduceWarps / 2; offset > 0; offset >>= 1) s = welford_merge(s, shfl_down(s, offset));
  }
  return s;
}

// ---- indexing ----
// Index is uint32_t when every vector index (plus a grid stride) fits, which
// keeps the per-vector division cheap; uint64_t otherwise.

// Offset, in vectors, of the j-th vector of channel c (j in 0 .. N*H*W/VEC).
template <typename Index>
__device__ __forceinline__ Index channel_vector_offset(Index j, Index c, Index channels, Index plane_vecs) {
  const Index n = j / plane_vecs;
  return (n * channels + c) * plane_vecs + (j - n * plane_vecs);
}

// The channel of the i-th vector of the tensor.
template <typename Index>
__device__ __forceinline__ Index channel_of(Index i, Index channels, Index plane_vecs) {
  return (i / plane_vecs) % channels;
}

// The slice [begin, end) of a channel's vectors that block (s, c) reduces.
struct Slice {
  uint64_t begin, end;
};
__device__ __forceinline__ Slice block_slice(uint64_t per_channel_vecs, uint64_t chunk) {
  const uint64_t begin = blockIdx.x * chunk;
  return {begin, begin + chunk < per_channel_vecs ? begin + chunk : per_channel_vecs};
}

// ---- forward kernels ----

template <typename Index, int VEC>
__global__ void __launch_bounds__(kReduceThreads)
    batch_norm_stats_partial_kernel(const float* x, Index channels, Index plane_vecs, Index per_channel_vecs,
                                    Index chunk, Welford* partials) {
  const Index c = blockIdx.y;
  const Slice slice = block_slice(per_channel_vecs, chunk);
  Welford state{0.0f, 0.0f, 0.0f};
  for (Index j = static_cast<Index>(slice.begin) + threadIdx.x; j < slice.end; j += kReduceThreads) {
    float v[VEC];
    load_vec<VEC>(x + channel_vector_offset<Index>(j, c, channels, plane_vecs) * VEC, v);
    welford_add<VEC>(state, v);
  }
  state = block_merge(state);
  if (threadIdx.x == 0) partials[c * gridDim.x + blockIdx.x] = state;
}

// One thread per channel: merge the partials, save mean and 1/std, update the running statistics.
__global__ void batch_norm_stats_finalize_kernel(const Welford* partials, int channels, int splits, float eps,
                                                 float momentum, float* save_mean, float* save_invstd,
                                                 float* running_mean, float* running_var) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  Welford s = partials[c * splits];
  for (int i = 1; i < splits; ++i) s = welford_merge(s, partials[c * splits + i]);
  save_mean[c] = s.mean;
  save_invstd[c] = 1.0f / sqrtf(s.m2 / s.count + eps);
  if (running_mean) {
    // PyTorch updates the running variance with the unbiased estimate.
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * s.mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (s.m2 / (s.count - 1.0f));
  }
}

__global__ void batch_norm_running_to_saved_kernel(const float* running_mean, const float* running_var, int channels,
                                                   float eps, float* save_mean, float* save_invstd) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  save_mean[c] = running_mean[c];
  save_invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
}

// y = act((x - mean) * invstd * weight + bias [+ residual]); weight/bias may be null.
template <typename Index, int VEC>
__global__ void batch_norm_apply_kernel(const float* x, const float* residual, const float* mean, const float* invstd,
                                        const float* weight, const float* bias, BnActivation act, Index channels,
                                        Index plane_vecs, Index total_vecs, float* y) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total_vecs; i += stride) {
    const Index c = channel_of<Index>(i, channels, plane_vecs);
    const float scale = invstd[c] * (weight ? weight[c] : 1.0f);
    const float shift = (bias ? bias[c] : 0.0f) - mean[c] * scale;
    float v[VEC];
    load_vec<VEC>(x + i * VEC, v);
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] = fmaf(v[k], scale, shift);
    if (act == BnActivation::add_relu) {
      float r[VEC];
      load_vec<VEC>(residual + i * VEC, r);
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] += r[k];
    }
    if (act != BnActivation::none) {
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] = v[k] < 0.0f ? 0.0f : v[k];  // NaN passes through
    }
    store_vec<VEC>(y + i * VEC, v);
  }
}

// ---- backward kernels ----

// Partial sums of g and g * (x - mean) over a slice of channel c, where g is
// grad_y masked by y > 0 when a relu followed the normalisation.
template <typename Index, int VEC>
__global__ void __launch_bounds__(kReduceThreads)
    batch_norm_backward_partial_kernel(const float* x, const float* y, const float* grad_y, const float* mean,
                                       bool masked, Index channels, Index plane_vecs, Index per_channel_vecs,
                                       Index chunk, float2* partials) {
  const Index c = blockIdx.y;
  const float m = mean[c];
  const Slice slice = block_slice(per_channel_vecs, chunk);
  float2 sums = make_float2(0.0f, 0.0f);
  for (Index j = static_cast<Index>(slice.begin) + threadIdx.x; j < slice.end; j += kReduceThreads) {
    const Index offset = channel_vector_offset<Index>(j, c, channels, plane_vecs) * VEC;
    float xv[VEC], g[VEC];
    load_vec<VEC>(x + offset, xv);
    load_vec<VEC>(grad_y + offset, g);
    if (masked) {
      float yv[VEC];
      load_vec<VEC>(y + offset, yv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      sums.x += g[k];
      sums.y = fmaf(g[k], xv[k] - m, sums.y);
    }
  }
  sums = block_sum<kReduceWarps>(sums);
  if (threadIdx.x == 0) partials[c * gridDim.x + blockIdx.x] = sums;
}

// One thread per channel: grad_weight, grad_bias and the two coefficients of
// the training-mode grad_x: mean(g) and invstd^2 * mean(g * (x - mean)).
__global__ void batch_norm_backward_finalize_kernel(const float2* partials, int channels, int splits, float count,
                                                    const float* invstd, float* grad_weight, float* grad_bias,
                                                    float2* coefficients) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  float sum_g = 0.0f, sum_g_xmu = 0.0f;
  for (int i = 0; i < splits; ++i) {
    sum_g += partials[c * splits + i].x;
    sum_g_xmu += partials[c * splits + i].y;
  }
  const float inv = invstd[c];
  if (grad_weight) grad_weight[c] = sum_g_xmu * inv;
  if (grad_bias) grad_bias[c] = sum_g;
  coefficients[c] = make_float2(sum_g / count, sum_g_xmu * inv * inv / count);
}

// grad_residual = g; grad_x = weight * invstd * (g - mean(g) - (x - mean) * proj) in
// training, weight * invstd * g in evaluation. Either output may be null.
template <typename Index, int VEC>
__global__ void batch_norm_backward_elementwise_kernel(const float* x, const float* y, const float* grad_y,
                                                       const float* mean, const float* invstd, const float* weight,
                                                       const float2* coefficients, bool masked, bool training,
                                                       Index channels, Index plane_vecs, Index total_vecs,
                                                       float* grad_x, float* grad_residual) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total_vecs; i += stride) {
    float g[VEC];
    load_vec<VEC>(grad_y + i * VEC, g);
    if (masked) {
      float yv[VEC];
      load_vec<VEC>(y + i * VEC, yv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
    }
    if (grad_residual) store_vec<VEC>(grad_residual + i * VEC, g);
    if (!grad_x) continue;
    const Index c = channel_of<Index>(i, channels, plane_vecs);
    const float scale = invstd[c] * (weight ? weight[c] : 1.0f);
    float dx[VEC];
    if (training) {
      const float2 coef = coefficients[c];
      const float m = mean[c];
      float xv[VEC];
      load_vec<VEC>(x + i * VEC, xv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) dx[k] = scale * (g[k] - coef.x - (xv[k] - m) * coef.y);
    } else {
#pragma unroll
      for (int k = 0; k < VEC; ++k) dx[k] = scale * g[k];
    }
    store_vec<VEC>(grad_x + i * VEC, dx);
  }
}

// ---- host side ----

const float* optional_cptr(const Tensor& t) { return t.defined() ? cptr(t) : nullptr; }
float* optional_mptr(const Tensor& t) { return t.defined() ? mptr(t) : nullptr; }

// How a launch walks the tensor.
struct Geometry {
  int64_t channels, vec;
  int64_t plane_vecs, per_channel_vecs, total_vecs;  // in vectors of `vec` floats
  int64_t splits, chunk;                             // reduction grid: chunk vectors per block
  bool narrow_index;                                 // 32-bit index arithmetic suffices
};

// Tensors a vectorised kernel would read or write; undefined ones are ignored.
bool all_aligned16(std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    if (t->defined() && !aligned16(*t)) return false;
  return true;
}

Geometry geometry(const char* op, const Tensor& x, bool aligned) {
  Geometry g{};
  g.channels = x.size(1);
  ENGRAM_CHECK(g.channels <= 65535, ShapeError, op,
               "the CUDA kernels support at most 65535 channels, got x of shape " + shape_str(x.shape()));
  const int64_t plane = x.size(2) * x.size(3);
  g.vec = plane % 4 == 0 && aligned ? 4 : 1;
  g.plane_vecs = plane / g.vec;
  g.per_channel_vecs = x.size(0) * g.plane_vecs;
  g.total_vecs = g.channels * g.per_channel_vecs;
  // Enough blocks to fill every SM (8 blocks of 256 threads each), but at
  // least 4 vectors per thread so that small channels are not over-split.
  const int64_t target_blocks = 8 * sm_count();
  const int64_t min_vecs_per_block = 4 * kReduceThreads;
  int64_t splits = (target_blocks + g.channels - 1) / g.channels;
  splits = std::min(splits, (g.per_channel_vecs + min_vecs_per_block - 1) / min_vecs_per_block);
  splits = std::max<int64_t>(1, std::min(splits, kMaxSplits));
  g.chunk = std::max<int64_t>(1, (g.per_channel_vecs + splits - 1) / splits);
  g.splits = std::max<int64_t>(1, (g.per_channel_vecs + g.chunk - 1) / g.chunk);  // no empty block
  // The loops add a grid stride to an in-range index: keep that below 2^32.
  g.narrow_index = x.numel() < (int64_t(1) << 31);
  return g;
}

unsigned per_channel_blocks(int64_t channels) { return static_cast<unsigned>((channels + kThreads - 1) / kThreads); }

// Runs `launch` with (Index, VEC) bound to the geometry's choice.
template <typename Launch>
void with_index_and_vec(const Geometry& g, Launch launch) {
  if (g.narrow_index) {
    if (g.vec == 4)
      launch(uint32_t{}, std::integral_constant<int, 4>{});
    else
      launch(uint32_t{}, std::integral_constant<int, 1>{});
  } else {
    if (g.vec == 4)
      launch(uint64_t{}, std::integral_constant<int, 4>{});
    else
      launch(uint64_t{}, std::integral_constant<int, 1>{});
  }
}

void apply(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
           BnActivation act, const float* mean, const float* invstd, const Tensor& y) {
  with_index_and_vec(g, [&](auto index, auto vec) {
    using Index = decltype(index);
    constexpr int VEC = decltype(vec)::value;
    launch("batch_norm_apply_kernel", batch_norm_apply_kernel<Index, VEC>, blocks_for(g.total_vecs), kThreads, 0,
           cptr(x), act == BnActivation::add_relu ? cptr(residual) : nullptr, mean, invstd, optional_cptr(weight),
           optional_cptr(bias), act, Index(g.channels), Index(g.plane_vecs), Index(g.total_vecs), mptr(y));
  });
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd) {
  const Geometry g = geometry("batch_norm2d", x, all_aligned16({&x, &y, &residual}));
  static_assert(sizeof(Welford) == 3 * sizeof(float), "partials are stored as float triples");
  Tensor partials = Tensor::empty({g.channels * g.splits * 3}, DType::f32, x.device());
  auto* states = reinterpret_cast<Welford*>(mptr(partials));
  with_index_and_vec(g, [&](auto index, auto vec) {
    using Index = decltype(index);
    constexpr int VEC = decltype(vec)::value;
    const dim3 grid(static_cast<unsigned>(g.splits), static_cast<unsigned>(g.channels));
    launch("batch_norm_stats_partial_kernel", batch_norm_stats_partial_kernel<Index, VEC>, grid, kReduceThreads, 0,
           cptr(x), Index(g.channels), Index(g.plane_vecs), Index(g.per_channel_vecs), Index(g.chunk), states);
  });
  launch("batch_norm_stats_finalize_kernel", batch_norm_stats_finalize_kernel, per_channel_blocks(g.channels), kThreads,
         0, states, static_cast<int>(g.channels), static_cast<int>(g.splits), static_cast<float>(eps),
         static_cast<float>(momentum), mptr(save_mean), mptr(save_invstd), optional_mptr(running_mean),
         optional_mptr(running_var));
  apply(g, x, weight, bias, residual, act, cptr(save_mean), cptr(save_invstd), y);
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const Geometry g = geometry("batch_norm2d", x, all_aligned16({&x, &y, &residual}));
  // The statistics are written even when nobody asked for them: the apply kernel reads them.
  Tensor mean = save_mean.defined() ? save_mean : Tensor::empty({g.channels}, DType::f32, x.device());
  Tensor invstd = save_invstd.defined() ? save_invstd : Tensor::empty({g.channels}, DType::f32, x.device());
  launch("batch_norm_running_to_saved_kernel", batch_norm_running_to_saved_kernel, per_channel_blocks(g.channels),
         kThreads, 0, cptr(running_mean), cptr(running_var), static_cast<int>(g.channels), static_cast<float>(eps),
         mptr(mean), mptr(invstd));
  apply(g, x, weight, bias, residual, act, cptr(mean), cptr(invstd), y);
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double /*eps*/, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual) {
  const bool masked = act != BnActivation::none;
  const Tensor no_y;
  const Geometry g =
      geometry("batch_norm2d_backward", x, all_aligned16({&x, masked ? &y : &no_y, &grad_y, &grad_x, &grad_residual}));
  // The reductions are needed for the parameter gradients and, in training, for grad_x.
  const bool reduce = grad_weight.defined() || grad_bias.defined() || (training && grad_x.defined());
  Tensor coefficients;
  if (reduce) {
    Tensor partials = Tensor::empty({g.channels * g.splits * 2}, DType::f32, x.device());
    coefficients = Tensor::empty({g.channels * 2}, DType::f32, x.device());
    auto* sums = reinterpret_cast<float2*>(mptr(partials));
    with_index_and_vec(g, [&](auto index, auto vec) {
      using Index = decltype(index);
      constexpr int VEC = decltype(vec)::value;
      const dim3 grid(static_cast<unsigned>(g.splits), static_cast<unsigned>(g.channels));
      launch("batch_norm_backward_partial_kernel", batch_norm_backward_partial_kernel<Index, VEC>, grid, kReduceThreads,
             0, cptr(x), masked ? cptr(y) : nullptr, cptr(grad_y), cptr(save_mean), masked, Index(g.channels),
             Index(g.plane_vecs), Index(g.per_channel_vecs), Index(g.chunk), sums);
    });
    const float count = static_cast<float>(x.size(0) * x.size(2) * x.size(3));
    launch("batch_norm_backward_finalize_kernel", batch_norm_backward_finalize_kernel, per_channel_blocks(g.channels),
           kThreads, 0, sums, static_cast<int>(g.channels), static_cast<int>(g.splits), count, cptr(save_invstd),
           optional_mptr(grad_weight), optional_mptr(grad_bias), reinterpret_cast<float2*>(mptr(coefficients)));
  }
  if (!grad_x.defined() && !grad_residual.defined()) return;
  with_index_and_vec(g, [&](auto index, auto vec) {
    using Index = decltype(index);
    constexpr int VEC = decltype(vec)::value;
    launch("batch_norm_backward_elementwise_kernel", batch_norm_backward_elementwise_kernel<Index, VEC>,
           blocks_for(g.total_vecs), kThreads, 0, cptr(x), masked ? cptr(y) : nullptr, cptr(grad_y), cptr(save_mean),
           cptr(save_invstd), optional_cptr(weight),
           reduce ? reinterpret_cast<const float2*>(cptr(coefficients)) : nullptr, masked, training && reduce,
           Index(g.channels), Index(g.plane_vecs), Index(g.total_vecs), optional_mptr(grad_x),
           optional_mptr(grad_residual));
  });
}

}  // namespace engram::cuda
