#include "nn/layers.h"

#include <cmath>

#include "core/random.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"
#include "kernels/shape_ops.h"

namespace engram::nn {

namespace {

// PyTorch's kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor default_init(const Shape& shape, int64_t fan_in) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return random::uniform(shape, -bound, bound);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
               int64_t dilation, int64_t groups, bool with_bias)
    : params(Conv2dParams::square(stride, padding, dilation, groups)) {
  ENGRAM_CHECK(in_channels > 0 && out_channels > 0 && groups > 0 && in_channels % groups == 0 &&
                   out_channels % groups == 0,
               ValueError, "Conv2d",
               "channels (" + std::to_string(in_channels) + " -> " + std::to_string(out_channels) +
                   ") must be positive and divisible by groups (" + std::to_string(groups) + ")");
  int64_t fan_in = in_channels / groups * kernel_size * kernel_size;
  weight = default_init({out_channels, in_channels / groups, kernel_size, kernel_size}, fan_in);
  if (with_bias) bias = default_init({out_channels}, fan_in);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias) {
  ENGRAM_CHECK(in_features > 0 && out_features > 0, ValueError, "Linear",
               "features must be positive, got " + std::to_string(in_features) + " -> " +
                   std::to_string(out_features));
  weight = default_init({out_features, in_features}, in_features);
  if (with_bias) bias = default_init({out_features}, in_features);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum) : eps(eps), momentum(momentum) {
  ENGRAM_CHECK(channels > 0, ValueError, "BatchNorm2d", "channels must be positive, got " + std::to_string(channels));
  weight = Tensor::ones({channels});
  bias = Tensor::zeros({channels});
  running_mean = Tensor::zeros({channels});
  running_var = Tensor::ones({channels});
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) ++num_batches_tracked;
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  if (is_training()) ++num_batches_tracked;
  return batch_norm2d_relu(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Tensor BatchNorm2d::forward_add_relu(const Tensor& x, const Tensor& residual) {
  if (is_training()) ++num_batches_tracked;
  return batch_norm2d_add_relu(x, residual, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

void BatchNorm2d::extra_state(NamedTensors& out, const std::string& prefix) const {
  out.emplace_back(prefix + "num_batches_tracked",
                   Tensor::scalar(static_cast<double>(num_batches_tracked), DType::f64));
}

bool BatchNorm2d::load_extra_state(const std::string& name, const Tensor& value) {
  if (name != "num_batches_tracked") return false;
  ENGRAM_CHECK(value.numel() == 1, ShapeError, "BatchNorm2d::load_state_dict",
               "num_batches_tracked must hold one number, got shape " + shape_str(value.shape()));
  num_batches_tracked = static_cast<int64_t>(value.to(DType::f64).item<double>());
  return true;
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel, stride, padding); }

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel, stride, padding); }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  if (out_h == 1 && out_w == 1) return global_avg_pool2d(x).reshape({x.size(0), x.size(1), 1, 1});
  return adaptive_avg_pool2d(x, out_h, out_w);
}

Dropout::Dropout(double p) : p(p) {
  ENGRAM_CHECK(p >= 0 && p < 1, ValueError, "Dropout", "p must be in [0, 1), got " + std::to_string(p));
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), default_generator()); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, 1); }

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& layer : layers) append(std::move(layer));
}

void Sequential::append(std::shared_ptr<Layer> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

}  // namespace engram::nn
