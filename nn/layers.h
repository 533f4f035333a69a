#pragma once
// The layers of the model zoo, with PyTorch's parameter names, shapes and
// default initialisation (Kaiming-uniform weights with a = sqrt(5), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same bound for biases; BatchNorm
// weight 1, bias 0, running mean 0, running var 1, momentum 0.1, eps 1e-5).
// Initial values come from the default generator (see manual_seed).
#include <memory>
#include <type_traits>
#include <vector>

#include "kernels/conv2d.h"
#include "nn/module.h"

namespace engram::nn {

// A module with one tensor in and one out.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// torch.nn.Conv2d, its arguments in its order (square kernel, stride, padding
// and dilation).
class Conv2d : public Layer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  // A bool where dilation goes is a call written for the old order, which took
  // bias sixth: it would silently become a dilation, so it does not compile.
  template <typename Bool, typename = std::enable_if_t<std::is_same_v<Bool, bool>>>
  Conv2d(int64_t, int64_t, int64_t, int64_t, int64_t, Bool, int64_t = 1, bool = true) = delete;
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Conv2dParams params;
};

class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  Tensor forward_relu(const Tensor& x);                              // relu(bn(x)), one fused op
  Tensor forward_add_relu(const Tensor& x, const Tensor& residual);  // relu(bn(x) + residual)
  Tensor weight, bias, running_mean, running_var;
  int64_t num_batches_tracked = 0;  // kept on the host: counting needs no device work
  double eps, momentum;

 protected:
  void extra_state(NamedTensors& out, const std::string& prefix) const override;
  bool load_extra_state(const std::string& name, const Tensor& value) override;
};

class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

class MaxPool2d : public Layer {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0) : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override;
  int64_t kernel, stride, padding;
};

class AvgPool2d : public Layer {
 public:
  AvgPool2d(int64_t kernel, int64_t stride, int64_t padding = 0) : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override;
  int64_t kernel, stride, padding;
};

class AdaptiveAvgPool2d : public Layer {
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h(out_h), out_w(out_w) {}
  Tensor forward(const Tensor& x) override;
  int64_t out_h, out_w;
};

class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  double p;
};

class Flatten : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
};

// Children named "0", "1", ... as torch.nn.Sequential.
class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers);
  void append(std::shared_ptr<Layer> layer);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace engram::nn
