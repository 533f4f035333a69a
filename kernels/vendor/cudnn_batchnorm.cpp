// cuDNN batch normalisation (spatial mode, NCHW float32), the reference the
// native kernels are measured against. The mapping to PyTorch's semantics:
// cuDNN's exponentialAverageFactor is the momentum, its running variance is
// updated with the unbiased batch variance, and it saves the mean and the
// inverse standard deviation 1 / sqrt(var + eps), which is what engram's
// backward passes read, so native and vendor saved statistics are
// interchangeable.
//
// cuDNN's legacy batch-norm calls (deprecated in cuDNN 9 in favour of the
// graph API, still shipped) do not fuse relu or a residual for NCHW float, so
// those tails run as engram's elementwise kernels; evaluation-mode backward
// (an affine map) and evaluation with saved statistics use the native kernels.
#include <cudnn.h>

#include <cstdint>
#include <string>

#include "core/cuda/check.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"

// The legacy batch-norm API is marked deprecated in cuDNN 9; it is the one
// that matches PyTorch's BatchNorm2d semantics and what we compare against.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace engram::vendor {

namespace {

#define ENGRAM_CUDNN_CHECK(call)                                                                      \
  do {                                                                                                \
    cudnnStatus_t engram_status_ = (call);                                                            \
    if (engram_status_ != CUDNN_STATUS_SUCCESS)                                                       \
      throw DeviceError(std::string("cudnn: ") + #call + ": " + cudnnGetErrorString(engram_status_)); \
  } while (0)

// One handle for the process, bound to engram's stream before every call.
cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created = nullptr;
    ENGRAM_CUDNN_CHECK(cudnnCreate(&created));
    return created;
  }();
  ENGRAM_CUDNN_CHECK(cudnnSetStream(h, cuda::stream()));
  return h;
}

// Descriptors of x (NCHW) and of the per-channel tensors (1xCx1x1), freed on scope exit.
class Descriptors {
 public:
  explicit Descriptors(const Tensor& x) {
    ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&data_));
    ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&channel_));
    ENGRAM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(data_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, dim(x, 0), dim(x, 1),
                                                  dim(x, 2), dim(x, 3)));
    ENGRAM_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(channel_, data_, CUDNN_BATCHNORM_SPATIAL));
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(channel_);
    cudnnDestroyTensorDescriptor(data_);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  cudnnTensorDescriptor_t data() const { return data_; }
  cudnnTensorDescriptor_t channel() const { return channel_; }

 private:
  static int dim(const Tensor& x, int64_t d) {
    ENGRAM_CHECK(x.size(d) <= INT32_MAX, ShapeError, "batch_norm2d (cuDNN)",
                 "cuDNN takes 32-bit dimensions, got x of shape " + shape_str(x.shape()));
    return static_cast<int>(x.size(d));
  }
  cudnnTensorDescriptor_t data_ = nullptr, channel_ = nullptr;
};

// weight / bias, or the identity affine map when undefined (affine=false).
Tensor or_constant(const Tensor& t, const Tensor& x, double value) {
  return t.defined() ? t : Tensor::full({x.size(1)}, value, DType::f32, x.device());
}

void* optional_ptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

void apply_activation(const Tensor& y, const Tensor& residual, BnActivation act) {
  if (act == BnActivation::relu) cuda::relu_forward(y, y);
  if (act == BnActivation::add_relu) cuda::add_relu_forward(y, residual, y);
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd) {
  Descriptors desc(x);
  Tensor scale = or_constant(weight, x, 1.0), shift = or_constant(bias, x, 0.0);
  // Null running statistics tell cuDNN not to track them (track_running_stats=False).
  ENGRAM_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, desc.data(), x.raw_data(), desc.data(), y.raw_data(),
      desc.channel(), scale.raw_data(), shift.raw_data(), momentum, optional_ptr(running_mean),
      optional_ptr(running_var), eps, save_mean.raw_data(), save_invstd.raw_data()));
  apply_activation(y, residual, act);
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  if (save_mean.defined()) {
    // cuDNN has no call that also returns the statistics for a later backward.
    cuda::batch_norm_forward_inference(x, weight, bias, residual, act, running_mean, running_var, eps, y, save_mean,
                                       save_invstd);
    return;
  }
  Descriptors desc(x);
  Tensor scale = or_constant(weight, x, 1.0), shift = or_constant(bias, x, 0.0);
  ENGRAM_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, desc.data(), x.raw_data(), desc.data(), y.raw_data(),
      desc.channel(), scale.raw_data(), shift.raw_data(), running_mean.raw_data(), running_var.raw_data(), eps));
  apply_activation(y, residual, act);
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double eps, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual) {
  if (!training) {
    // cuDNN's backward is the training-mode one; evaluation mode is affine.
    cuda::batch_norm_backward(x, weight, y, act, grad_y, save_mean, save_invstd, eps, training, grad_x, grad_weight,
                              grad_bias, grad_residual);
    return;
  }
  // The gradient reaching the normalisation: grad_y masked by the relu, which
  // is also grad_residual, so it is written there when that is wanted.
  Tensor masked = grad_y;
  if (act != BnActivation::none) {
    masked = grad_residual.defined() ? grad_residual : Tensor::empty(x.shape(), DType::f32, x.device());
    cuda::relu_backward(y, grad_y, masked);
  }
  if (!grad_x.defined() && !grad_weight.defined() && !grad_bias.defined()) return;
  // cuDNN writes every output: unwanted ones go to scratch tensors.
  auto or_scratch = [&](const Tensor& t, const Shape& shape) {
    return t.defined() ? t : Tensor::empty(shape, DType::f32, x.device());
  };
  const Shape channels{x.size(1)};
  Tensor dx = or_scratch(grad_x, x.shape());
  Tensor dscale = or_scratch(grad_weight, channels), dshift = or_scratch(grad_bias, channels);
  Tensor scale = or_constant(weight, x, 1.0);
  Descriptors desc(x);
  ENGRAM_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kZero, desc.data(), x.raw_data(), desc.data(),
      masked.raw_data(), desc.data(), dx.raw_data(), desc.channel(), scale.raw_data(), dscale.raw_data(),
      dshift.raw_data(), eps, save_mean.raw_data(), save_invstd.raw_data()));
}

}  // namespace engram::vendor
