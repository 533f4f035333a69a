#pragma once
// Batch normalisation over NCHW tensors, one mean and variance per channel,
// with PyTorch's semantics (BatchNorm2d):
//
//   y = (x - mean) / sqrt(var + eps) * weight + bias
//
// Training: mean and the biased variance come from the batch (over N, H, W);
// running_mean / running_var, when defined, are updated in place with
//   running = (1 - momentum) * running + momentum * batch_stat,
// where the variance used here is the unbiased one (times n / (n - 1)).
// Evaluation: the running statistics are used and left untouched.
// weight and bias may be undefined (affine=false); the running statistics may
// be undefined in training (track_running_stats=False).
//
// The fused variants compute relu(bn(x)) and relu(bn(x) + residual), the
// ResNet block's tail, in the same passes; their backward recomputes the relu
// mask from the saved output (y > 0) instead of storing extra tensors.
#include "core/tensor.h"

namespace engram {

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm2d(x, ...)).
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm2d(x, ...) + residual); residual has x's shape and receives a gradient.
Tensor batch_norm2d_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var, bool training,
                             double momentum = 0.1, double eps = 1e-5);

// What follows the normalisation inside the same kernels.
enum class BnActivation { none, relu, add_relu };

// Backends. Layout: x, y, residual, grad tensors [N, C, H, W]; every per-channel
// tensor is [C]. Undefined tensors mean "absent": weight/bias (identity
// affine), residual (unless add_relu), running stats, and any output that is
// not wanted. save_mean / save_invstd hold the statistics the forward pass
// normalised with (batch or running) as mean and 1 / sqrt(var + eps); the
// backward pass reads them.
namespace cpu {
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd);
// save_mean / save_invstd may be undefined when no backward follows.
void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
// y is the forward output (read for the relu mask unless act is none). In
// training the statistics depend on x, which adds the mean terms to grad_x;
// in evaluation the op is affine. grad_residual is the masked grad_y. eps is
// the forward pass's (the saved statistics already include it; cuDNN wants it).
void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double eps, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual);
}  // namespace cpu

namespace cuda {
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd);
void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double eps, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual);
}  // namespace cuda

// cuDNN (spatial mode), built only with ENGRAM_HAS_CUDNN. The relu and
// add+relu tails run as separate elementwise kernels after cuDNN, and the
// pieces cuDNN has no call for (the affine backward of evaluation mode,
// statistics saved in evaluation mode) use the native kernels.
namespace vendor {
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                 BnActivation act, const Tensor& running_mean, const Tensor& running_var,
                                 double momentum, double eps, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd);
void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                                  BnActivation act, const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& y, BnActivation act, const Tensor& grad_y,
                         const Tensor& save_mean, const Tensor& save_invstd, double eps, bool training,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                         const Tensor& grad_residual);
}  // namespace vendor

}  // namespace engram
