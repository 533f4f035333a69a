// Pooling on CUDA (float32, NCHW). Forward kernels: one thread per output
// cell. Backward kernels are gathers, one thread per input cell summing the
// output cells whose window covers it, so grad_x is written once, without
// atomics, and the result does not depend on scheduling. Global pooling
// reduces each plane with one warp.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/pool.h"

namespace engram::cuda {
namespace {


// Sizes every kernel needs; Index is uint32_t when all flat indices (plus a
// grid stride) fit, which keeps the per-thread divisions cheap.
template <typename Index>
struct PlaneGeometry {
  Index planes;        // N * C
  Index in_h, in_w;    // input plane
  Index out_h, out_w;  // output plane
};

template <typename Index>
struct Cell {
  Index plane, h, w;
};

// Decomposes a flat index over planes of h x w cells.
template <typename Index>
__device__ __forceinline__ Cell<Index> cell_of(Index i, Index h, Index w) {
  const Index row = i / w;
  return {row / h, row % h, i - row * w};
}

// [first, last) output rows (or columns) whose window covers input row i.
struct Range {
  int64_t first, last;
};

__device__ __forceinline__ Range covering_windows(int64_t i, int64_t kernel, int64_t stride, int64_t pad, int64_t out) {
  const int64_t padded = i + pad;
  const int64_t first = padded < kernel ? 0 : (padded - kernel) / stride + 1;
  const int64_t last = padded / stride + 1;
  return {first, last < out ? last : out};
}

// Adaptive windows: output o averages [floor(o * in / out), ceil((o + 1) * in / out)).
__device__ __forceinline__ int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
__device__ __forceinline__ int64_t adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}
// Outputs o covering input i: floor(i * out / in) <= o < ceil((i + 1) * out / in).
__device__ __forceinline__ Range adaptive_covering(int64_t i, int64_t in, int64_t out) {
  return {(i * out) / in, ((i + 1) * out + in - 1) / in};
}

__device__ __forceinline__ int64_t avg_divisor(int64_t h0, int64_t w0, const PoolWindow& w, bool count_include_pad,
                                               int64_t in_h, int64_t in_w) {
  if (count_include_pad) {
    // The window clipped to the padded input, as PyTorch's pool_size.
    const int64_t h1 = min(h0 + w.kernel_h, in_h + w.pad_h), w1 = min(w0 + w.kernel_w, in_w + w.pad_w);
    return (h1 - h0) * (w1 - w0);
  }
  const int64_t rows = min(h0 + w.kernel_h, in_h) - max(h0, int64_t(0));
  const int64_t cols = min(w0 + w.kernel_w, in_w) - max(w0, int64_t(0));
  return rows * cols;
}

template <typename Index>
__global__ void max_pool2d_forward_kernel(const float* x, PlaneGeometry<Index> g, PoolWindow w, float* y,
                                          int32_t* argmax) {
  const Index total = g.planes * g.out_h * g.out_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> o = cell_of<Index>(i, g.out_h, g.out_w);
    const int64_t h0 = int64_t(o.h) * w.stride_h - w.pad_h, w0 = int64_t(o.w) * w.stride_w - w.pad_w;
    const int64_t h_begin = max(h0, int64_t(0)), h_end = min(h0 + w.kernel_h, int64_t(g.in_h));
    const int64_t w_begin = max(w0, int64_t(0)), w_end = min(w0 + w.kernel_w, int64_t(g.in_w));
    const float* plane = x + o.plane * g.in_h * g.in_w;
    float best = -INFINITY;
    int64_t best_index = h_begin * g.in_w + w_begin;
    for (int64_t ih = h_begin; ih < h_end; ++ih) {
      for (int64_t iw = w_begin; iw < w_end; ++iw) {
        const float v = plane[ih * g.in_w + iw];
        if (v > best || (isnan(v) && !isnan(best))) {  // the first NaN wins, as on the CPU
          best = v;
          best_index = ih * g.in_w + iw;
        }
      }
    }
    y[i] = best;
    argmax[i] = static_cast<int32_t>(best_index);
  }
}

template <typename Index>
__global__ void max_pool2d_backward_kernel(const float* grad_y, const int32_t* argmax, PlaneGeometry<Index> g,
                                           PoolWindow w, float* grad_x) {
  const Index total = g.planes * g.in_h * g.in_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> in = cell_of<Index>(i, g.in_h, g.in_w);
    const Range rows = covering_windows(in.h, w.kernel_h, w.stride_h, w.pad_h, g.out_h);
    const Range cols = covering_windows(in.w, w.kernel_w, w.stride_w, w.pad_w, g.out_w);
    const int32_t self = static_cast<int32_t>(in.h * g.in_w + in.w);
    const Index base = in.plane * g.out_h * g.out_w;
    float sum = 0.0f;
    for (int64_t oh = rows.first; oh < rows.last; ++oh)
      for (int64_t ow = cols.first; ow < cols.last; ++ow) {
        const Index o = base + static_cast<Index>(oh * g.out_w + ow);
        if (argmax[o] == self) sum += grad_y[o];
      }
    grad_x[i] = sum;
  }
}

template <typename Index>
__global__ void avg_pool2d_forward_kernel(const float* x, PlaneGeometry<Index> g, PoolWindow w, bool count_include_pad,
                                          float* y) {
  const Index total = g.planes * g.out_h * g.out_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> o = cell_of<Index>(i, g.out_h, g.out_w);
    const int64_t h0 = int64_t(o.h) * w.stride_h - w.pad_h, w0 = int64_t(o.w) * w.stride_w - w.pad_w;
    const int64_t h_begin = max(h0, int64_t(0)), h_end = min(h0 + w.kernel_h, int64_t(g.in_h));
    const int64_t w_begin = max(w0, int64_t(0)), w_end = min(w0 + w.kernel_w, int64_t(g.in_w));
    const float* plane = x + o.plane * g.in_h * g.in_w;
    float sum = 0.0f;
    for (int64_t ih = h_begin; ih < h_end; ++ih)
      for (int64_t iw = w_begin; iw < w_end; ++iw) sum += plane[ih * g.in_w + iw];
    y[i] = sum / static_cast<float>(avg_divisor(h0, w0, w, count_include_pad, g.in_h, g.in_w));
  }
}

template <typename Index>
__global__ void avg_pool2d_backward_kernel(const float* grad_y, PlaneGeometry<Index> g, PoolWindow w,
                                           bool count_include_pad, float* grad_x) {
  const Index total = g.planes * g.in_h * g.in_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> in = cell_of<Index>(i, g.in_h, g.in_w);
    const Range rows = covering_windows(in.h, w.kernel_h, w.stride_h, w.pad_h, g.out_h);
    const Range cols = covering_windows(in.w, w.kernel_w, w.stride_w, w.pad_w, g.out_w);
    const float* plane = grad_y + in.plane * g.out_h * g.out_w;
    float sum = 0.0f;
    for (int64_t oh = rows.first; oh < rows.last; ++oh)
      for (int64_t ow = cols.first; ow < cols.last; ++ow) {
        const int64_t divisor =
            avg_divisor(oh * w.stride_h - w.pad_h, ow * w.stride_w - w.pad_w, w, count_include_pad, g.in_h, g.in_w);
        sum += plane[oh * g.out_w + ow] / static_cast<float>(divisor);
      }
    grad_x[i] = sum;
  }
}

template <typename Index>
__global__ void adaptive_avg_pool2d_forward_kernel(const float* x, PlaneGeometry<Index> g, float* y) {
  const Index total = g.planes * g.out_h * g.out_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> o = cell_of<Index>(i, g.out_h, g.out_w);
    const int64_t h_begin = adaptive_start(o.h, g.in_h, g.out_h), h_end = adaptive_end(o.h, g.in_h, g.out_h);
    const int64_t w_begin = adaptive_start(o.w, g.in_w, g.out_w), w_end = adaptive_end(o.w, g.in_w, g.out_w);
    const float* plane = x + o.plane * g.in_h * g.in_w;
    float sum = 0.0f;
    for (int64_t ih = h_begin; ih < h_end; ++ih)
      for (int64_t iw = w_begin; iw < w_end; ++iw) sum += plane[ih * g.in_w + iw];
    y[i] = sum / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
  }
}

template <typename Index>
__global__ void adaptive_avg_pool2d_backward_kernel(const float* grad_y, PlaneGeometry<Index> g, float* grad_x) {
  const Index total = g.planes * g.in_h * g.in_w;
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Cell<Index> in = cell_of<Index>(i, g.in_h, g.in_w);
    const Range rows = adaptive_covering(in.h, g.in_h, g.out_h);
    const Range cols = adaptive_covering(in.w, g.in_w, g.out_w);
    const float* plane = grad_y + in.plane * g.out_h * g.out_w;
    float sum = 0.0f;
    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
      const int64_t height = adaptive_end(oh, g.in_h, g.out_h) - adaptive_start(oh, g.in_h, g.out_h);
      for (int64_t ow = cols.first; ow < cols.last; ++ow) {
        const int64_t width = adaptive_end(ow, g.in_w, g.out_w) - adaptive_start(ow, g.in_w, g.out_w);
        sum += plane[oh * g.out_w + ow] / static_cast<float>(height * width);
      }
    }
    grad_x[i] = sum;
  }
}

// One warp per plane; lanes read consecutive 16-byte vectors when VEC == 4.
template <int VEC>
__global__ void global_avg_pool2d_forward_kernel(const float* x, int64_t planes, int64_t plane_size, float* y) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_per_block = blockDim.x / 32;
  const int64_t warp_stride = warps_per_block * gridDim.x;
  for (int64_t p = blockIdx.x * warps_per_block + threadIdx.x / 32; p < planes; p += warp_stride) {
    const float* plane = x + p * plane_size;
    float sum = 0.0f;
    for (int64_t k = int64_t(lane) * VEC; k < plane_size; k += 32 * VEC) {
      if constexpr (VEC == 4) {
        const float4 v = *reinterpret_cast<const float4*>(plane + k);
        sum += (v.x + v.y) + (v.z + v.w);
      } else {
        sum += plane[k];
      }
    }
    sum = warp_sum(sum);
    if (lane == 0) y[p] = sum / static_cast<float>(plane_size);
  }
}

template <typename Index, int VEC>
__global__ void global_avg_pool2d_backward_kernel(const float* grad_y, Index plane_vecs, Index total_vecs,
                                                  float inv_plane_size, float* grad_x) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < total_vecs; i += stride) {
    const float share = grad_y[i / plane_vecs] * inv_plane_size;
    if constexpr (VEC == 4) {
      reinterpret_cast<float4*>(grad_x)[i] = make_float4(share, share, share, share);
    } else {
      grad_x[i] = share;
    }
  }
}

// ---- host side ----

// x is [N, C, H, W]; y is [N, C, OH, OW].
template <typename Index>
PlaneGeometry<Index> plane_geometry(const Tensor& x, const Tensor& y) {
  return {Index(x.size(0) * x.size(1)), Index(x.size(2)), Index(x.size(3)), Index(y.size(2)), Index(y.size(3))};
}

// Runs launch(Index{}) with the narrowest index type that covers both tensors.
template <typename Launch>
void with_index(const Tensor& a, const Tensor& b, Launch launch) {
  const int64_t limit = int64_t(1) << 31;  // leaves room for a grid stride below 2^32
  if (a.numel() < limit && b.numel() < limit)
    launch(uint32_t{});
  else
    launch(uint64_t{});
}


}  // namespace

void max_pool2d_forward(const Tensor& x, const PoolWindow& window, const Tensor& y, const Tensor& argmax) {
  with_index(x, y, [&](auto index) {
    using Index = decltype(index);
    launch("max_pool2d_forward_kernel", max_pool2d_forward_kernel<Index>, blocks_for(y.numel()), kThreads, 0, cptr(x),
           plane_geometry<Index>(x, y), window, mptr(y), argmax.data<int32_t>());
  });
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& argmax, const PoolWindow& window, const Tensor& grad_x) {
  with_index(grad_x, grad_y, [&](auto index) {
    using Index = decltype(index);
    launch("max_pool2d_backward_kernel", max_pool2d_backward_kernel<Index>, blocks_for(grad_x.numel()), kThreads, 0,
           cptr(grad_y), argmax.data<int32_t>(), plane_geometry<Index>(grad_x, grad_y), window, mptr(grad_x));
  });
}

void avg_pool2d_forward(const Tensor& x, const PoolWindow& window, bool count_include_pad, const Tensor& y) {
  with_index(x, y, [&](auto index) {
    using Index = decltype(index);
    launch("avg_pool2d_forward_kernel", avg_pool2d_forward_kernel<Index>, blocks_for(y.numel()), kThreads, 0, cptr(x),
           plane_geometry<Index>(x, y), window, count_include_pad, mptr(y));
  });
}

void avg_pool2d_backward(const Tensor& grad_y, const PoolWindow& window, bool count_include_pad, const Tensor& grad_x) {
  with_index(grad_x, grad_y, [&](auto index) {
    using Index = decltype(index);
    launch("avg_pool2d_backward_kernel", avg_pool2d_backward_kernel<Index>, blocks_for(grad_x.numel()), kThreads, 0,
           cptr(grad_y), plane_geometry<Index>(grad_x, grad_y), window, count_include_pad, mptr(grad_x));
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  with_index(x, y, [&](auto index) {
    using Index = decltype(index);
    launch("adaptive_avg_pool2d_forward_kernel", adaptive_avg_pool2d_forward_kernel<Index>, blocks_for(y.numel()),
           kThreads, 0, cptr(x), plane_geometry<Index>(x, y), mptr(y));
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x) {
  with_index(grad_x, grad_y, [&](auto index) {
    using Index = decltype(index);
    launch("adaptive_avg_pool2d_backward_kernel", adaptive_avg_pool2d_backward_kernel<Index>,
           blocks_for(grad_x.numel()), kThreads, 0, cptr(grad_y), plane_geometry<Index>(grad_x, grad_y), mptr(grad_x));
  });
}

void global_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), plane_size = x.size(2) * x.size(3);
  const unsigned blocks = blocks_for(planes * 32);  // a warp per plane, capped: the loop covers the rest
  if (plane_size % 4 == 0 && aligned16(x)) {
    launch("global_avg_pool2d_forward_kernel", global_avg_pool2d_forward_kernel<4>, blocks, kThreads, 0, cptr(x),
           planes, plane_size, mptr(y));
  } else {
    launch("global_avg_pool2d_forward_kernel", global_avg_pool2d_forward_kernel<1>, blocks, kThreads, 0, cptr(x),
           planes, plane_size, mptr(y));
  }
}

void global_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x) {
  const int64_t plane_size = grad_x.size(2) * grad_x.size(3);
  const int vec = plane_size % 4 == 0 && aligned16(grad_x) ? 4 : 1;
  const int64_t plane_vecs = plane_size / vec, total_vecs = grad_x.numel() / vec;
  const float inv_plane_size = 1.0f / static_cast<float>(plane_size);
  with_index(grad_x, grad_y, [&](auto index) {
    using Index = decltype(index);
    if (vec == 4) {
      launch("global_avg_pool2d_backward_kernel", global_avg_pool2d_backward_kernel<Index, 4>, blocks_for(total_vecs),
             kThreads, 0, cptr(grad_y), Index(plane_vecs), Index(total_vecs), inv_plane_size, mptr(grad_x));
    } else {
      launch("global_avg_pool2d_backward_kernel", global_avg_pool2d_backward_kernel<Index, 1>, blocks_for(total_vecs),
             kThreads, 0, cptr(grad_y), Index(plane_vecs), Index(total_vecs), inv_plane_size, mptr(grad_x));
    }
  });
}

}  // namespace engram::cuda
