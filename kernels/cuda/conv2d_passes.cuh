#pragma once
// The three convolution passes as implicit GEMMs: for each, how element
// (m, k) of A and (k, n) of B are fetched from the tensors and where C[m, n]
// is written. Host/device code only; the kernel that runs them is
// conv2d_implicit_gemm.cuh, their launchers conv2d_forward.cu and
// conv2d_backward.cu.
//
// Forward, per group g (Cg = C/groups, Kg = K/groups):
//   M = Kg filters,  N = batch * P * Q output pixels,  K = Cg * R * S taps
//   A[m, k] = weight[g*Kg + m, c, r, s]                 with k = (c, r, s)   (a row of the weight: k-fastest)
//   B[k, n] = x[img, g*Cg + c, oh*sh - ph + r*dh, ow*sw - pw + s*dw]   with n = (img, oh, ow), zero outside
//   y[img, g*Kg + m, oh, ow] = C[m, n] + bias[g*Kg + m]
// B is the virtual im2col matrix: consecutive n are consecutive output pixels,
// so a warp's gather reads a contiguous run of an input row (line-fastest).
//
// Data gradient, per group g and per stride phase (a, b) = (h mod sh, w mod sw):
//   grad_x[img, g*Cg + c, h, w] = sum over (co, r, s) of weight[g*Kg + co, c, r, s] * grad_y[img, g*Kg + co, oh, ow]
//   with oh = (h + ph - r*dh) / sh, which must divide exactly and lie in [0, P).
// For a fixed phase only the taps r with r*dh = a + ph (mod sh) divide exactly; they are r0, r0 + rstep, ...
// (rstep = sh / gcd(sh, dh)), and then oh = hi + oh_base - ri * oh_step with h = hi*sh + a. So each phase is
// a dense GEMM without wasted (always-zero) taps:
//   M = Cg,  N = batch * Ha * Wb (this phase's input pixels),  K = Kg * taps_h * taps_w
//   A[c, (co, ri, si)] = weight[g*Kg + co, c, r0 + ri*rstep, s0 + si*sstep]      (the transposed filter, k-fastest)
//   B[(co, ri, si), (img, hi, wi)] = grad_y[img, g*Kg + co, hi + oh_base - ri*oh_step, wi + ow_base - si*ow_step]
// With stride 1 there is one phase and every tap (the classic "full correlation with the flipped filter").
// All phases run in one launch (blockIdx.z = subproblem), each writing a disjoint set of grad_x pixels.
//
// Weight gradient, per group g:
//   M = Kg,  N = Cg * R * S,  K = batch * P * Q (long: split-K over it)
//   A[co, (img, oh, ow)] = grad_y[img, g*Kg + co, oh, ow]                                          (k-fastest)
//   B[(img, oh, ow), (c, r, s)] = x[img, g*Cg + c, oh*sh - ph + r*dh, ow*sw - pw + s*dw], zero outside  (k-fastest)
//   grad_w[g*Kg + co, c, r, s] = C[co, (c, r, s)]
#include <climits>
#include <cstdint>
#include <vector>

#include "kernels/cuda/conv2d_tile.cuh"

namespace engram::cuda::conv {

// ---- forward ----

// A = weight rows of group g: A[m, k] = w[(g*Kg + m) * (Cg*R*S) + k].
struct ForwardWeights {
  static constexpr bool kKFastest = true;
  const float* w;
  int rows, row_length;  // Kg, Cg*R*S
  struct Line {
    int offset;  // -1 past the last filter
  };
  struct KPos {
    int k;
  };
  ENGRAM_CONV_HD Line line(int group, int m) const { return {m < rows ? (group * rows + m) * row_length : -1}; }
  ENGRAM_CONV_HD KPos kpos(int, int k) const { return {k}; }
  ENGRAM_CONV_HD float load(Line l, KPos p) const { return l.offset >= 0 ? load_readonly(w + l.offset + p.k) : 0.0f; }
};

// B = im2col(x) of group g, gathered: B[(c, r, s), (img, oh, ow)].
struct ForwardInput {
  static constexpr bool kKFastest = false;
  const float* x;
  int columns;                   // batch * P * Q
  FastDivmod pixels_div, q_div;  // P*Q, Q
  FastDivmod taps_div, s_div;    // R*S, S
  int channels, height, width, in_per_group;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  struct Line {
    int base, ih0, iw0;  // ih0 = oh*sh - ph; far negative past the last column
  };
  struct KPos {
    int offset, dh, dw;
  };
  ENGRAM_CONV_HD Line line(int group, int n) const {
    if (n >= columns) return {0, INT_MIN / 2, 0};
    int pixel, ow;
    int img = pixels_div.divmod(n, pixel);
    int oh = q_div.divmod(pixel, ow);
    int ih0 = oh * stride_h - pad_h, iw0 = ow * stride_w - pad_w;
    return {((img * channels + group * in_per_group) * height + ih0) * width + iw0, ih0, iw0};
  }
  ENGRAM_CONV_HD KPos kpos(int, int k) const {
    int tap, s;
    int c = taps_div.divmod(k, tap);
    int r = s_div.divmod(tap, s);
    int dh = r * dilation_h, dw = s * dilation_w;
    return {(c * height + dh) * width + dw, dh, dw};
  }
  ENGRAM_CONV_HD float load(Line l, KPos p) const {
    int ih = l.ih0 + p.dh, iw = l.iw0 + p.dw;
    bool inside = static_cast<unsigned>(ih) < static_cast<unsigned>(height) &&
                  static_cast<unsigned>(iw) < static_cast<unsigned>(width);
    return inside ? load_readonly(x + l.base + p.offset) : 0.0f;
  }
};

struct ForwardPass {
  ForwardWeights a;
  ForwardInput b;
  int gemm_m, gemm_n, gemm_k;
  float* out;            // y, or the split-K workspace [splits][y]
  int64_t split_stride;  // elements of y
  const float* bias;     // nullptr with split-K (reduce_splits adds it)
  int out_channels, pixels;
  FastDivmod pixels_div;
  bool vector_store;  // pixels % 4 == 0 and `out` 16-byte aligned

  ENGRAM_CONV_HD const ForwardPass& problem(int) const { return *this; }

  ENGRAM_CONV_HD void store(int group, int split, int m, int n, float v0, float v1, float v2, float v3) const {
    const int channel = group * gemm_m + m;
    const float shift = bias ? load_readonly(bias + channel) : 0.0f;
    float* base = out + split * split_stride;
    if (vector_store && n + 3 < gemm_n) {  // four consecutive pixels of one image, 16-byte aligned
      int pixel;
      int img = pixels_div.divmod(n, pixel);
      *reinterpret_cast<float4*>(base + (img * out_channels + channel) * pixels + pixel) =
          make_float4(v0 + shift, v1 + shift, v2 + shift, v3 + shift);
      return;
    }
    const float v[4] = {v0, v1, v2, v3};
    ENGRAM_CONV_UNROLL
    for (int j = 0; j < 4; ++j) {
      if (n + j >= gemm_n) break;
      int pixel;
      int img = pixels_div.divmod(n + j, pixel);
      base[(img * out_channels + channel) * pixels + pixel] = v[j] + shift;
    }
  }
};

// The forward pass of `geometry` reading x and w; its output is set by set_forward_output.
ForwardPass make_forward_pass(const Conv2dGeometry& geometry, const float* x, const float* w);
// C goes to y with the bias added, or (split-K) to the workspace without it.
void set_forward_output(ForwardPass& pass, float* out, const float* bias);

// ---- data gradient ----

constexpr int kMaxPhases = 16;  // strides up to 4x4 in one launch; larger strides loop over launches

// What changes from one phase to the next.
struct DgradPhase {
  int gemm_n, gemm_k;
  FastDivmod pixels_div, wi_div;   // Ha*Wb, Wb
  FastDivmod taps_div, tap_s_div;  // taps_h*taps_w, taps_w
  int offset_h, offset_w;          // a, b
  int tap0_h, tap0_w;
  int out_base_h, out_base_w;
};

// A = transposed filter of group g over this phase's taps.
struct DgradWeights {
  static constexpr bool kKFastest = true;
  const float* w;
  int rows;                   // Cg
  int filter_size;            // Cg*R*S: the stride between filters
  int kernel_w, kernel_taps;  // S, R*S
  int tap_step_h, tap_step_w;
  FastDivmod taps_div, tap_s_div;
  int tap0_h, tap0_w;
  int out_per_group;
  struct Line {
    int offset;  // c*R*S, or -1 past the last channel
  };
  struct KPos {
    int offset;
  };
  ENGRAM_CONV_HD Line line(int, int m) const { return {m < rows ? m * kernel_taps : -1}; }
  ENGRAM_CONV_HD KPos kpos(int group, int k) const {
    int tap, si;
    int co = taps_div.divmod(k, tap);
    int ri = tap_s_div.divmod(tap, si);
    int r = tap0_h + ri * tap_step_h, s = tap0_w + si * tap_step_w;
    return {(group * out_per_group + co) * filter_size + r * kernel_w + s};
  }
  ENGRAM_CONV_HD float load(Line l, KPos p) const {
    return l.offset >= 0 ? load_readonly(w + l.offset + p.offset) : 0.0f;
  }
};

// B = grad_y gathered at the output pixels each input pixel of the phase receives from.
struct DgradGradOutput {
  static constexpr bool kKFastest = false;
  const float* grad_y;
  int columns;
  FastDivmod pixels_div, wi_div;
  FastDivmod taps_div, tap_s_div;
  int out_channels, out_per_group, out_height, out_width;
  int out_base_h, out_base_w, out_step_h, out_step_w;
  struct Line {
    int base, oh, ow;  // oh far negative past the last column
  };
  struct KPos {
    int offset, dh, dw;
  };
  ENGRAM_CONV_HD Line line(int group, int n) const {
    if (n >= columns) return {0, INT_MIN / 2, 0};
    int pixel, wi;
    int img = pixels_div.divmod(n, pixel);
    int hi = wi_div.divmod(pixel, wi);
    return {(img * out_channels + group * out_per_group) * out_height * out_width, hi + out_base_h, wi + out_base_w};
  }
  ENGRAM_CONV_HD KPos kpos(int, int k) const {
    int tap, si;
    int co = taps_div.divmod(k, tap);
    int ri = tap_s_div.divmod(tap, si);
    return {co * out_height * out_width, ri * out_step_h, si * out_step_w};
  }
  ENGRAM_CONV_HD float load(Line l, KPos p) const {
    int oh = l.oh - p.dh, ow = l.ow - p.dw;
    bool inside = static_cast<unsigned>(oh) < static_cast<unsigned>(out_height) &&
                  static_cast<unsigned>(ow) < static_cast<unsigned>(out_width);
    return inside ? load_readonly(grad_y + l.base + p.offset + oh * out_width + ow) : 0.0f;
  }
};

struct DgradProblem {
  DgradWeights a;
  DgradGradOutput b;
  int gemm_m, gemm_n, gemm_k;
  float* out;  // grad_x or the split-K workspace [splits][grad_x]
  int64_t split_stride;
  int channels, in_per_group, height, width, stride_h, stride_w, offset_h, offset_w;
  FastDivmod pixels_div, wi_div;
  bool vector_store;  // one phase (stride 1), H*W % 4 == 0, `out` 16-byte aligned

  ENGRAM_CONV_HD void store(int group, int split, int m, int n, float v0, float v1, float v2, float v3) const {
    float* plane = out + split * split_stride;
    const int channel = group * in_per_group + m;
    if (vector_store && n + 3 < gemm_n) {  // stride 1: four consecutive pixels of one image
      int pixel;
      int img = pixels_div.divmod(n, pixel);
      *reinterpret_cast<float4*>(plane + (img * channels + channel) * height * width + pixel) =
          make_float4(v0, v1, v2, v3);
      return;
    }
    const float v[4] = {v0, v1, v2, v3};
    ENGRAM_CONV_UNROLL
    for (int j = 0; j < 4; ++j) {
      if (n + j >= gemm_n) break;
      int pixel, wi;
      int img = pixels_div.divmod(n + j, pixel);
      int hi = wi_div.divmod(pixel, wi);
      int h = hi * stride_h + offset_h, w = wi * stride_w + offset_w;
      plane[((img * channels + channel) * height + h) * width + w] = v[j];
    }
  }
};

struct DgradPass {
  DgradProblem common;  // everything but the per-phase fields
  DgradPhase phases[kMaxPhases];

  ENGRAM_CONV_HD DgradProblem problem(int sub) const {
    DgradProblem p = common;
    const DgradPhase& ph = phases[sub];
    p.gemm_n = ph.gemm_n, p.gemm_k = ph.gemm_k;
    p.a.taps_div = ph.taps_div, p.a.tap_s_div = ph.tap_s_div;
    p.a.tap0_h = ph.tap0_h, p.a.tap0_w = ph.tap0_w;
    p.b.columns = ph.gemm_n;
    p.b.pixels_div = ph.pixels_div, p.b.wi_div = ph.wi_div;
    p.b.taps_div = ph.taps_div, p.b.tap_s_div = ph.tap_s_div;
    p.b.out_base_h = ph.out_base_h, p.b.out_base_w = ph.out_base_w;
    p.pixels_div = ph.pixels_div, p.wi_div = ph.wi_div;
    p.offset_h = ph.offset_h, p.offset_w = ph.offset_w;
    return p;
  }
};
// Kernel parameters are limited to 4 KB before CUDA 12.1.
static_assert(sizeof(DgradPass) <= 4096, "DgradPass is passed by value to the kernel");

// The data-gradient pass of `geometry`: the common part and every stride phase.
struct DgradSetup {
  DgradPass pass;  // phases[] is filled per launch (at most kMaxPhases at a time)
  std::vector<DgradPhase> phases;
  int64_t max_n = 0, max_k = 0;
};

DgradSetup make_dgrad_setup(const Conv2dGeometry& geometry, const float* grad_y, const float* w);
// C goes to grad_x or (split-K) to the workspace.
void set_dgrad_output(DgradSetup& setup, float* out);
// Copies phases [first, first + count) into the pass and sizes the grid for them.
GemmPlan select_dgrad_phases(DgradSetup& setup, const GemmPlan& plan, int groups, int64_t first, int64_t count);

// ---- weight gradient ----

// A = grad_y rows of group g: A[co, (img, pixel)] = grad_y[img, g*Kg + co, pixel].
struct WgradGradOutput {
  static constexpr bool kKFastest = true;
  const float* grad_y;
  int rows, out_channels, pixels;  // Kg, K, P*Q
  FastDivmod pixels_div;
  struct Line {
    int offset;  // -1 past the last filter
  };
  struct KPos {
    int offset;
  };
  ENGRAM_CONV_HD Line line(int group, int m) const { return {m < rows ? (group * rows + m) * pixels : -1}; }
  ENGRAM_CONV_HD KPos kpos(int, int k) const {
    int pixel;
    int img = pixels_div.divmod(k, pixel);
    return {img * out_channels * pixels + pixel};
  }
  ENGRAM_CONV_HD float load(Line l, KPos p) const {
    return l.offset >= 0 ? load_readonly(grad_y + l.offset + p.offset) : 0.0f;
  }
};

// B = im2col(x) transposed: B[(img, oh, ow), (c, r, s)].
struct WgradInput {
  static constexpr bool kKFastest = true;
  const float* x;
  int columns;                                    // Cg*R*S
  FastDivmod taps_div, s_div, pixels_div, q_div;  // R*S, S, P*Q, Q
  int channels, in_per_group, height, width;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  struct Line {
    int offset, dh, dw;  // dh far negative past the last column
  };
  struct KPos {
    int base, ih0, iw0;
  };
  ENGRAM_CONV_HD Line line(int group, int n) const {
    if (n >= columns) return {0, INT_MIN / 2, 0};
    int tap, s;
    int c = taps_div.divmod(n, tap);
    int r = s_div.divmod(tap, s);
    int dh = r * dilation_h, dw = s * dilation_w;
    return {((group * in_per_group + c) * height + dh) * width + dw, dh, dw};
  }
  ENGRAM_CONV_HD KPos kpos(int, int k) const {
    int pixel, ow;
    int img = pixels_div.divmod(k, pixel);
    int oh = q_div.divmod(pixel, ow);
    int ih0 = oh * stride_h - pad_h, iw0 = ow * stride_w - pad_w;
    return {(img * channels * height + ih0) * width + iw0, ih0, iw0};
  }
  ENGRAM_CONV_HD float load(Line l, KPos p) const {
    int ih = p.ih0 + l.dh, iw = p.iw0 + l.dw;
    bool inside = static_cast<unsigned>(ih) < static_cast<unsigned>(height) &&
                  static_cast<unsigned>(iw) < static_cast<unsigned>(width);
    return inside ? load_readonly(x + p.base + l.offset) : 0.0f;
  }
};

struct WgradPass {
  WgradGradOutput a;
  WgradInput b;
  int gemm_m, gemm_n, gemm_k;
  float* out;  // grad_w or the split-K workspace [splits][grad_w]
  int64_t split_stride;
  bool vector_store;  // Cg*R*S % 4 == 0 and `out` 16-byte aligned

  ENGRAM_CONV_HD const WgradPass& problem(int) const { return *this; }

  ENGRAM_CONV_HD void store(int group, int split, int m, int n, float v0, float v1, float v2, float v3) const {
    float* row = out + split * split_stride + (group * gemm_m + m) * gemm_n;
    if (vector_store && n + 3 < gemm_n) {
      *reinterpret_cast<float4*>(row + n) = make_float4(v0, v1, v2, v3);
      return;
    }
    const float v[4] = {v0, v1, v2, v3};
    ENGRAM_CONV_UNROLL
    for (int j = 0; j < 4; ++j)
      if (n + j < gemm_n) row[n + j] = v[j];
  }
};

// The weight-gradient pass of `geometry`; its output is set by set_wgrad_output.
WgradPass make_wgrad_pass(const Conv2dGeometry& geometry, const float* grad_y, const float* x);
void set_wgrad_output(WgradPass& pass, float* out);

}  // namespace engram::cuda::conv
