// CPU reference of batch normalisation: one channel at a time (OpenMP over
// channels), two-pass statistics accumulated in double, formulas written as
// in the paper. A channel is N contiguous planes of H*W values in NCHW; the
// loops walk those planes so that the elementwise passes vectorise.
#include "kernels/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"

namespace engram::cpu {

namespace {

struct ChannelLayout {
  int64_t batch, channels, plane;  // N, C, H*W
  int64_t per_channel() const { return batch * plane; }
  // Calls body(offset) for the first element of each of channel c's N planes.
  template <typename Body>
  void for_each_plane(int64_t c, Body body) const {
    for (int64_t n = 0; n < batch; ++n) body((n * channels + c) * plane);
  }
};

ChannelLayout layout_of(const Tensor& x) { return {x.size(0), x.size(1), x.size(2) * x.size(3)}; }

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename Body>
void for_each_channel(const ChannelLayout& layout, Body body) {
  const int64_t work = layout.channels * layout.per_channel();
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
  for (int64_t c = 0; c < layout.channels; ++c) body(c);
}

// y = act((x - mean) * invstd * weight + bias [+ residual]) for every element.
template <typename T>
void normalise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual, BnActivation act,
               const T* mean, const T* invstd, const Tensor& y) {
  const ChannelLayout layout = layout_of(x);
  const T* px = x.data<T>();
  const T* pw = optional_data<T>(weight);
  const T* pb = optional_data<T>(bias);
  const T* pr = act == BnActivation::add_relu ? residual.data<T>() : nullptr;
  T* py = y.data<T>();
  for_each_channel(layout, [&](int64_t c) {
    const T w = pw ? pw[c] : T(1), b = pb ? pb[c] : T(0), m = mean[c], is = invstd[c];
    const bool relu = act != BnActivation::none;
    layout.for_each_plane(c, [&](int64_t offset) {
      const T* xs = px + offset;
      T* ys = py + offset;
      for (int64_t j = 0; j < layout.plane; ++j) ys[j] = (xs[j] - m) * is * w + b;
      if (pr)
        for (int64_t j = 0; j < layout.plane; ++j) ys[j] += pr[offset + j];
      if (relu)
        for (int64_t j = 0; j < layout.plane; ++j) ys[j] = ys[j] < T(0) ? T(0) : ys[j];  // NaN passes through, as in relu()
    });
  });
}

template <typename T>
void forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                      BnActivation act, const Tensor& running_mean, const Tensor& running_var, double momentum,
                      double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const ChannelLayout layout = layout_of(x);
  const int64_t count = layout.per_channel();
  const T* px = x.data<T>();
  T* mean = save_mean.data<T>();
  T* invstd = save_invstd.data<T>();
  T* run_mean = running_mean.defined() ? running_mean.data<T>() : nullptr;
  T* run_var = running_var.defined() ? running_var.data<T>() : nullptr;
  for_each_channel(layout, [&](int64_t c) {
    double sum = 0;
    layout.for_each_plane(c, [&](int64_t offset) {
      for (int64_t j = 0; j < layout.plane; ++j) sum += px[offset + j];
    });
    const double m = sum / count;
    double squares = 0;
    layout.for_each_plane(c, [&](int64_t offset) {
      for (int64_t j = 0; j < layout.plane; ++j) {
        const double d = px[offset + j] - m;
        squares += d * d;
      }
    });
    const double biased_var = squares / count;
    mean[c] = static_cast<T>(m);
    invstd[c] = static_cast<T>(1.0 / std::sqrt(biased_var + eps));
    if (run_mean) {
      const double unbiased_var = squares / (count - 1);
      run_mean[c] = static_cast<T>((1 - momentum) * run_mean[c] + momentum * m);
      run_var[c] = static_cast<T>((1 - momentum) * run_var[c] + momentum * unbiased_var);
    }
  });
  normalise<T>(x, weight, bias, residual, act, mean, invstd, y);
}

template <typename T>
void forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                       BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                       const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const int64_t channels = x.size(1);
  const T* run_mean = running_mean.data<T>();
  const T* run_var = running_var.data<T>();
  std::vector<T> mean(run_mean, run_mean + channels), invstd(channels);
  for (int64_t c = 0; c < channels; ++c) invstd[c] = static_cast<T>(1.0 / std::sqrt(double(run_var[c]) + eps));
  normalise<T>(x, weight, bias, residual, act, mean.data(), invstd.data(), y);
  if (save_mean.defined()) {
    std::copy(mean.begin(), mean.end(), save_mean.data<T>());
    std::copy(invstd.begin(), invstd.end(), save_invstd.data<T>());
  }
}

template <typename T>
void backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
              const Tensor& save_mean, const Tensor& save_invstd, bool training, const Tensor& grad_x,
              const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_residual) {
  const ChannelLayout layout = layout_of(x);
  const int64_t count = layout.per_channel();
  const T* px = x.data<T>();
  const T* pw = optional_data<T>(weight);
  const T* py = act == BnActivation::none ? nullptr : y.data<T>();
  const T* pg = grad_y.data<T>();
  const T* mean = save_mean.data<T>();
  const T* invstd = save_invstd.data<T>();
  T* gx = grad_x.defined() ? grad_x.data<T>() : nullptr;
  T* gw = grad_weight.defined() ? grad_weight.data<T>() : nullptr;
  T* gb = grad_bias.defined() ? grad_bias.data<T>() : nullptr;
  T* gr = grad_residual.defined() ? grad_residual.data<T>() : nullptr;
  for_each_channel(layout, [&](int64_t c) {
    const double m = mean[c], is = invstd[c];
    // g: the gradient reaching the normalisation, grad_y where the relu passed it.
    double sum_g = 0, sum_g_xhat = 0;
    layout.for_each_plane(c, [&](int64_t offset) {
      for (int64_t j = 0; j < layout.plane; ++j) {
        const int64_t k = offset + j;
        const double g = py && !(py[k] > T(0)) ? 0.0 : double(pg[k]);
        sum_g += g;
        sum_g_xhat += g * (double(px[k]) - m) * is;
      }
    });
    if (gw) gw[c] = static_cast<T>(sum_g_xhat);
    if (gb) gb[c] = static_cast<T>(sum_g);
    const double w = pw ? pw[c] : 1.0;
    // Training: d/dx of (x - mean(x)) / std(x), the batch statistics carry
    // gradient too; gx = w * is * (g - sum_g / count - xhat * sum_g_xhat / count).
    const T scale = static_cast<T>(w * is);
    const T shift = static_cast<T>(training ? sum_g / count : 0.0);
    const T slope = static_cast<T>(training ? sum_g_xhat / count : 0.0);
    const T mean_t = static_cast<T>(m), is_t = static_cast<T>(is);
    layout.for_each_plane(c, [&](int64_t offset) {
      const T* xs = px + offset;
      const T* gs = pg + offset;
      const T* ys = py ? py + offset : nullptr;
      for (int64_t j = 0; j < layout.plane; ++j) {
        const T g = ys && !(ys[j] > T(0)) ? T(0) : gs[j];
        if (gr) gr[offset + j] = g;
        // Evaluation: the statistics are constants, gx = w * is * g, whatever x holds (NaN included).
        if (gx) gx[offset + j] = training ? scale * (g - shift - (xs[j] - mean_t) * is_t * slope) : scale * g;
      }
    });
  });
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "batch_norm2d", [&] {
    forward_training<scalar_t>(x, weight, bias, residual, act, running_mean, running_var, momentum, eps, y, save_mean,
                               save_invstd);
  });
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "batch_norm2d", [&] {
    forward_inference<scalar_t>(x, weight, bias, residual, act, running_mean, running_var, eps, y, save_mean,
                                save_invstd);
  });
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double /*eps*/, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "batch_norm2d_backward", [&] {
    backward<scalar_t>(x, weight, y, act, grad_y, save_mean, save_invstd, training, grad_x, grad_weight, grad_bias,
                       grad_residual);
  });
}

}  // namespace engram::cpu
