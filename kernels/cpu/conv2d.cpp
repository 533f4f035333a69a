// CPU reference convolution: per image and group, im2col then GEMM.
//
// For one image and group g (Cg = C_in/groups input channels, Mg = C_out/groups
// filters, Kg = Cg*KH*KW, P = H_out*W_out output pixels):
//   col      [Kg, P]   col[(c*KH + kh)*KW + kw, oh*W_out + ow] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
//   forward  y_g  [Mg, P]  = W_g [Mg, Kg] @ col
//   dgrad    col  [Kg, P]  = W_g^T @ dy_g, then col2im adds every column entry back to its input pixel
//   wgrad    dW_g [Mg, Kg] += dy_g @ col^T, summed over images
// Images run in parallel (OpenMP). The weight gradient sums over images in a
// fixed number of chunks, reduced in order, so the result does not depend on
// the thread count.
#include "kernels/conv2d.h"

#include <algorithm>
#include <vector>

#include "kernels/gemm.h"

namespace engram::cpu {

namespace {

// The output positions o in [0, out_size) whose input position o * stride +
// offset lies inside [0, size), as [first, last). offset = kernel tap * dilation - pad.
struct ValidRange {
  int64_t first, last;
};
ValidRange valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out_size) {
  auto ceil_div = [](int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; };
  int64_t first = std::min(ceil_div(-offset, stride), out_size);
  int64_t last = std::clamp(ceil_div(size - offset, stride), first, out_size);
  return {first, last};
}

// Gathers the receptive fields of group `group` of one image into col [Kg, P].
// Rows are split into the padded ends (zeros) and the inside, a branch-free gather.
template <typename T>
void im2col(const Conv2dGeometry& g, const T* image, int64_t group, T* col) {
  const Conv2dParams& p = g.params;
  const int64_t cg = g.in_channels_per_group(), ow_count = g.out_width;
  for (int64_t c = 0; c < cg; ++c) {
    const T* plane = image + (group * cg + c) * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        T* row = col + ((c * g.kernel_h + kh) * g.kernel_w + kw) * g.out_height * ow_count;
        const int64_t iw0 = kw * p.dilation_w - p.pad_w;
        const ValidRange cols = valid_range(iw0, p.stride_w, g.width, ow_count);
        for (int64_t oh = 0; oh < g.out_height; ++oh) {
          T* out = row + oh * ow_count;
          const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (ih < 0 || ih >= g.height) {
            std::fill(out, out + ow_count, T(0));
            continue;
          }
          const T* in = plane + ih * g.width;
          std::fill(out, out + cols.first, T(0));
          if (p.stride_w == 1)
            std::copy(in + iw0 + cols.first, in + iw0 + cols.last, out + cols.first);
          else
            for (int64_t ow = cols.first; ow < cols.last; ++ow) out[ow] = in[iw0 + ow * p.stride_w];
          std::fill(out + cols.last, out + ow_count, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col: adds col [Kg, P] into the channels of group `group` of one image.
template <typename T>
void col2im_add(const Conv2dGeometry& g, const T* col, int64_t group, T* image) {
  const Conv2dParams& p = g.params;
  const int64_t cg = g.in_channels_per_group(), ow_count = g.out_width;
  for (int64_t c = 0; c < cg; ++c) {
    T* plane = image + (group * cg + c) * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const T* row = col + ((c * g.kernel_h + kh) * g.kernel_w + kw) * g.out_height * ow_count;
        const int64_t iw0 = kw * p.dilation_w - p.pad_w;
        const ValidRange cols = valid_range(iw0, p.stride_w, g.width, ow_count);
        for (int64_t oh = 0; oh < g.out_height; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          T* out = plane + ih * g.width;
          const T* in = row + oh * ow_count;
          for (int64_t ow = cols.first; ow < cols.last; ++ow) out[iw0 + ow * p.stride_w] += in[ow];
        }
      }
    }
  }
}

// Waking the thread team costs more than a small convolution.
bool parallel_worth_it(const Conv2dGeometry& g) { return g.batch > 1 && g.flops() >= 1e6; }

int64_t col_rows(const Conv2dGeometry& g) { return g.in_channels_per_group() * g.kernel_h * g.kernel_w; }
int64_t out_pixels(const Conv2dGeometry& g) { return g.out_height * g.out_width; }

template <typename T>
void forward_impl(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  int64_t kg = col_rows(g), pixels = out_pixels(g), mg = g.out_channels_per_group();
  int64_t x_image = g.in_channels * g.height * g.width, y_image = g.out_channels * pixels;
#pragma omp parallel if (parallel_worth_it(g))
  {
    std::vector<T> col(static_cast<size_t>(kg * pixels));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.batch; ++n) {
      for (int64_t group = 0; group < g.params.groups; ++group) {
        im2col(g, x + n * x_image, group, col.data());
        GemmShape shape;
        shape.m = mg, shape.n = pixels, shape.k = kg;
        gemm<T>(shape, T(1), w + group * mg * kg, col.data(), T(0), y + n * y_image + group * mg * pixels);
      }
      if (bias) {
        for (int64_t co = 0; co < g.out_channels; ++co) {
          T* plane = y + n * y_image + co * pixels;
          for (int64_t i = 0; i < pixels; ++i) plane[i] += bias[co];
        }
      }
    }
  }
}

template <typename T>
void backward_data_impl(const Conv2dGeometry& g, const T* grad_y, const T* w, T* grad_x) {
  int64_t kg = col_rows(g), pixels = out_pixels(g), mg = g.out_channels_per_group();
  int64_t x_image = g.in_channels * g.height * g.width, y_image = g.out_channels * pixels;
#pragma omp parallel if (parallel_worth_it(g))
  {
    std::vector<T> col(static_cast<size_t>(kg * pixels));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.batch; ++n) {
      std::fill(grad_x + n * x_image, grad_x + (n + 1) * x_image, T(0));
      for (int64_t group = 0; group < g.params.groups; ++group) {
        GemmShape shape;
        shape.trans_a = true;  // W_g is stored [Mg, Kg]; we need W_g^T [Kg, Mg]
        shape.m = kg, shape.n = pixels, shape.k = mg;
        gemm<T>(shape, T(1), w + group * mg * kg, grad_y + n * y_image + group * mg * pixels, T(0), col.data());
        col2im_add(g, col.data(), group, grad_x + n * x_image);
      }
    }
  }
}

template <typename T>
void backward_weight_impl(const Conv2dGeometry& g, const T* grad_y, const T* x, T* grad_w) {
  int64_t kg = col_rows(g), pixels = out_pixels(g), mg = g.out_channels_per_group();
  int64_t x_image = g.in_channels * g.height * g.width, y_image = g.out_channels * pixels;
  int64_t weight_size = g.out_channels * kg;
  // A fixed chunking of the batch (independent of the thread count) keeps the sum deterministic.
  int64_t chunks = std::min<int64_t>(g.batch, 8);
  std::vector<T> partial(static_cast<size_t>(chunks * weight_size), T(0));
#pragma omp parallel if (parallel_worth_it(g))
  {
    std::vector<T> col(static_cast<size_t>(kg * pixels));
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      T* sum = partial.data() + chunk * weight_size;
      for (int64_t n = chunk * g.batch / chunks; n < (chunk + 1) * g.batch / chunks; ++n) {
        for (int64_t group = 0; group < g.params.groups; ++group) {
          im2col(g, x + n * x_image, group, col.data());
          GemmShape shape;
          shape.trans_b = true;  // col is [Kg, P]; we need col^T [P, Kg]
          shape.m = mg, shape.n = kg, shape.k = pixels;
          gemm<T>(shape, T(1), grad_y + n * y_image + group * mg * pixels, col.data(), T(1), sum + group * mg * kg);
        }
      }
    }
  }
  for (int64_t i = 0; i < weight_size; ++i) {
    T total = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) total += partial[chunk * weight_size + i];
    grad_w[i] = total;
  }
}

template <typename T>
void backward_bias_impl(const T* grad_y, int64_t batch, int64_t channels, int64_t pixels, T* grad_bias) {
#pragma omp parallel for schedule(static) if (batch * channels * pixels >= (1 << 15))
  for (int64_t c = 0; c < channels; ++c) {
    T total = 0;
    for (int64_t n = 0; n < batch; ++n) {
      const T* plane = grad_y + (n * channels + c) * pixels;
      for (int64_t i = 0; i < pixels; ++i) total += plane[i];
    }
    grad_bias[c] = total;
  }
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y) {
  Conv2dGeometry g = conv2d_geometry("conv2d", x.shape(), weight.shape(), params);
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "conv2d", [&] {
    const scalar_t* b = bias.defined() ? bias.data<scalar_t>() : nullptr;
    forward_impl<scalar_t>(g, x.data<scalar_t>(), weight.data<scalar_t>(), b, y.data<scalar_t>());
  });
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params,
                          const Tensor& grad_x) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_data", grad_x.shape(), weight.shape(), params);
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "conv2d_backward_data", [&] {
    backward_data_impl<scalar_t>(g, grad_y.data<scalar_t>(), weight.data<scalar_t>(), grad_x.data<scalar_t>());
  });
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_weight", x.shape(), grad_weight.shape(), params);
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "conv2d_backward_weight", [&] {
    backward_weight_impl<scalar_t>(g, grad_y.data<scalar_t>(), x.data<scalar_t>(), grad_weight.data<scalar_t>());
  });
}

void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias) {
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "conv2d_backward_bias", [&] {
    backward_bias_impl<scalar_t>(grad_y.data<scalar_t>(), grad_y.size(0), grad_y.size(1),
                                 grad_y.size(2) * grad_y.size(3), grad_bias.data<scalar_t>());
  });
}

}  // namespace engram::cpu
