#pragma once
// Shared pieces of engram's CUDA convolution (conv2d_forward.cu,
// conv2d_backward.cu, conv2d_depthwise.cu): 32-bit geometry, fast division,
// the split-K reduction and the entry points of the depthwise kernels.
//
// Indices inside the kernels are 32-bit (faster address arithmetic); the
// launchers check that every tensor has fewer than 2^31 elements.
#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/cuda/common.cuh"

// Index arithmetic and gathers are __host__ __device__ so that a host-side
// emulation can check them; everything else is device code.
#ifdef __CUDACC__
#define ENGRAM_CONV_HD __host__ __device__ __forceinline__
#else
#define ENGRAM_CONV_HD inline
#endif
// `#pragma unroll` for loops in such functions (the host compiler warns on it).
#ifdef __CUDA_ARCH__
#define ENGRAM_CONV_UNROLL _Pragma("unroll")
#else
#define ENGRAM_CONV_UNROLL
#endif

namespace engram::cuda::conv {

// A read through the read-only data cache on the device.
ENGRAM_CONV_HD float load_readonly(const float* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// n / d and n % d for 0 <= n < 2^31 by a multiply-high and a shift (the GPU
// has no integer divider; `/` by a run-time value costs ~20 instructions).
// Magic number m = floor(2^(32+l) / d) - 2^32 + 1 with l = ceil(log2 d);
// q = (umulhi(n, m) + n) >> l, exact for n < 2^31 (no overflow in the sum).
struct FastDivmod {
  uint32_t divisor = 1, multiplier = 1, shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(int64_t d) : divisor(static_cast<uint32_t>(d)) {
    while ((uint64_t(1) << shift) < divisor) ++shift;
    multiplier = static_cast<uint32_t>(((uint64_t(1) << (32 + shift)) / divisor) - (uint64_t(1) << 32) + 1);
  }
  ENGRAM_CONV_HD int div(int n) const {
#ifdef __CUDA_ARCH__
    uint32_t high = __umulhi(static_cast<uint32_t>(n), multiplier);
#else
    uint32_t high = static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(n)) * multiplier) >> 32);
#endif
    return static_cast<int>((high + static_cast<uint32_t>(n)) >> shift);
  }
  ENGRAM_CONV_HD int divmod(int n, int& remainder) const {
    int q = div(n);
    remainder = n - q * static_cast<int>(divisor);
    return q;
  }
};

// The geometry of one convolution in the kernels' 32-bit integers.
struct ConvDims {
  int batch, in_channels, height, width;  // x [N, C, H, W]
  int out_channels, kernel_h, kernel_w;   // weight [K, C/groups, R, S]
  int out_height, out_width;              // y [N, K, P, Q]
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int groups, in_per_group, out_per_group;

  explicit ConvDims(const Conv2dGeometry& g);
};


// Throws unless every tensor of the convolution fits 32-bit indexing.
void check_int32_indexing(const char* op, const Conv2dGeometry& g);

// True for the depthwise case (each input channel convolved on its own, with
// C_out / C_in filters each): groups == C_in > 1.
inline bool is_depthwise(const Conv2dGeometry& g) { return g.params.groups > 1 && g.params.groups == g.in_channels; }
// True when the convolution is a plain GEMM per image: 1x1 filter, stride 1,
// no padding, one group.
inline bool is_pointwise_gemm(const Conv2dGeometry& g) {
  const Conv2dParams& p = g.params;
  return g.kernel_h == 1 && g.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
         p.groups == 1;
}

// out[i] = sum over s < splits of partial[s * count + i]  (+ bias[(i / inner) % channels] when bias != nullptr),
// summed in split order so that the result is deterministic.
void reduce_splits(const float* partial, int splits, int64_t count, const float* bias, int inner, int channels,
                   float* out);

// grad_bias[k] = sum over n, p of grad_y[n, k, p] (one block per channel, tree reduction).
void bias_gradient(const float* grad_y, int batch, int channels, int pixels, float* grad_bias);

// Depthwise kernels (conv2d_depthwise.cu): direct loops, one thread per output element
// (forward, dgrad) or one block per filter tap (wgrad).
void depthwise_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y);
void depthwise_backward_data(const Conv2dGeometry& g, const float* grad_y, const float* w, float* grad_x);
void depthwise_backward_weight(const Conv2dGeometry& g, const float* grad_y, const float* x, float* grad_w);

}  // namespace engram::cuda::conv
