#include "kernels/batchnorm.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

// A per-channel tensor (weight, bias, running stats): [C], x's dtype and device.
void check_channel_tensor(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  if (!t.defined()) return;
  ENGRAM_CHECK(t.dim() == 1 && t.size(0) == x.size(1), ShapeError, op,
               std::string(name) + " must have shape [C] = [" + std::to_string(x.size(1)) + "] for x of shape " +
                   shape_str(x.shape()) + ", got " + shape_str(t.shape()));
  check_same_dtype(op, t, x);
  check_same_device(op, t, x);
}

void check_arguments(const char* op, const Tensor& x, const Tensor& residual, BnActivation act, const Tensor& weight,
                     const Tensor& bias, const Tensor& running_mean, const Tensor& running_var, bool training,
                     double momentum, double eps) {
  check_dim(op, "x", x, 4, "[N, C, H, W]");
  check_floating(op, "x", x);
  if (act == BnActivation::add_relu) {
    check_defined(op, "residual", residual);
    ENGRAM_CHECK(residual.shape() == x.shape(), ShapeError, op,
                 "residual must have x's shape " + shape_str(x.shape()) + ", got " + shape_str(residual.shape()));
    check_same_dtype(op, residual, x);
    check_same_device(op, residual, x);
  }
  check_channel_tensor(op, "weight", weight, x);
  check_channel_tensor(op, "bias", bias, x);
  check_channel_tensor(op, "running_mean", running_mean, x);
  check_channel_tensor(op, "running_var", running_var, x);
  ENGRAM_CHECK(running_mean.defined() == running_var.defined(), ValueError, op,
               std::string("running_mean and running_var must both be defined or both undefined, got ") +
                   (running_mean.defined() ? "only running_mean" : "only running_var"));
  ENGRAM_CHECK(training || running_mean.defined(), ValueError, op,
               "evaluation mode (training=false) needs running_mean and running_var, got undefined tensors");
  int64_t per_channel = x.size(0) * x.size(2) * x.size(3);
  ENGRAM_CHECK(!training || per_channel > 1, ValueError, op,
               "training needs more than one value per channel, got x of shape " + shape_str(x.shape()));
  ENGRAM_CHECK(momentum >= 0 && momentum <= 1, ValueError, op,
               "momentum must be in [0, 1], got " + std::to_string(momentum));
  ENGRAM_CHECK(eps >= 0 && std::isfinite(eps), ValueError, op,
               "eps must be finite and >= 0, got " + std::to_string(eps));
}

void forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                      BnActivation act, const Tensor& running_mean, const Tensor& running_var, double momentum,
                      double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  ENGRAM_DISPATCH(batchnorm, "batch_norm2d", x, batch_norm_forward_training, x, weight, bias, residual, act,
                  running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

void forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                       BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                       const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  ENGRAM_DISPATCH(batchnorm, "batch_norm2d", x, batch_norm_forward_inference, x, weight, bias, residual, act,
                  running_mean, running_var, eps, y, save_mean, save_invstd);
}

void backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
              const Tensor& save_mean, const Tensor& save_invstd, double eps, bool training, const Tensor& grad_x,
              const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_residual) {
  ENGRAM_DISPATCH(batchnorm, "batch_norm2d", x, batch_norm_backward, x, weight, y, act, grad_y, save_mean,
                  save_invstd, eps, training, grad_x, grad_weight, grad_bias, grad_residual);
}

bool wants_grad(const Tensor& t) { return autograd::grad_enabled() && t.defined() && t.requires_grad(); }

// The three public ops share this body; `residual` is used only by add_relu.
Tensor batch_norm_op(const char* op, BnActivation act, const Tensor& x, const Tensor& residual, const Tensor& weight,
                     const Tensor& bias, const Tensor& running_mean, const Tensor& running_var, bool training,
                     double momentum, double eps) {
  check_arguments(op, x, residual, act, weight, bias, running_mean, running_var, training, momentum, eps);
  const bool x_grad = wants_grad(x), weight_grad = wants_grad(weight), bias_grad = wants_grad(bias);
  const bool residual_grad = act == BnActivation::add_relu && wants_grad(residual);
  const bool any_grad = x_grad || weight_grad || bias_grad || residual_grad;

  Tensor y = Tensor::empty_like(x);
  Tensor save_mean, save_invstd;
  Shape channels{x.size(1)};
  if (training || any_grad) {
    save_mean = Tensor::empty(channels, x.dtype(), x.device());
    save_invstd = Tensor::empty(channels, x.dtype(), x.device());
  }
  if (training) {
    forward_training(x, weight, bias, residual, act, running_mean, running_var, momentum, eps, y, save_mean,
                     save_invstd);
  } else {
    forward_inference(x, weight, bias, residual, act, running_mean, running_var, eps, y, save_mean, save_invstd);
  }
  if (!any_grad) return y;

  // Saved tensors are detached: y is this op's own output (see core/autograd.h).
  Tensor x_saved = x.detach(), weight_saved = weight.defined() ? weight.detach() : Tensor();
  Tensor y_saved = act == BnActivation::none ? Tensor() : y.detach();
  std::vector<Tensor> inputs{x, weight, bias};
  if (act == BnActivation::add_relu) inputs.push_back(residual);
  return autograd::record(op, y, inputs, [=](const Tensor& grad_y) {
    Tensor grad_x = x_grad ? Tensor::empty_like(x_saved) : Tensor();
    Tensor grad_weight = weight_grad ? Tensor::empty_like(weight_saved) : Tensor();
    Tensor grad_bias = bias_grad ? Tensor::empty(save_mean.shape(), x_saved.dtype(), x_saved.device()) : Tensor();
    Tensor grad_residual = residual_grad ? Tensor::empty_like(x_saved) : Tensor();
    backward(x_saved, weight_saved, y_saved, act, grad_y, save_mean, save_invstd, eps, training, grad_x, grad_weight,
             grad_bias, grad_residual);
    std::vector<Tensor> grads{grad_x, grad_weight, grad_bias};
    if (act == BnActivation::add_relu) grads.push_back(grad_residual);
    return grads;
  });
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm2d", BnActivation::none, x, Tensor(), weight, bias, running_mean, running_var,
                       training, momentum, eps);
}

Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm2d_relu", BnActivation::relu, x, Tensor(), weight, bias, running_mean, running_var,
                       training, momentum, eps);
}

Tensor batch_norm2d_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                             double eps) {
  return batch_norm_op("batch_norm2d_add_relu", BnActivation::add_relu, x, residual, weight, bias, running_mean,
                       running_var, training, momentum, eps);
}

}  // namespace engram
