#pragma once
// Softmax and log-softmax over the last dimension of logits [N, C] (rows are
// samples, columns classes). Both subtract the row maximum before
// exponentiating, so logits of any magnitude give finite results.
#include "core/tensor.h"

namespace engram {

// y[i, j] = exp(x[i, j]) / sum_k exp(x[i, k]). Differentiable.
Tensor softmax(const Tensor& x);
// y[i, j] = x[i, j] - log sum_k exp(x[i, k]). Differentiable.
Tensor log_softmax(const Tensor& x);

// Backends. x, y, grad_y and grad_x are [N, C] with N, C >= 1; `log_output` selects
// log_softmax. The backward works from the forward's output y:
//   softmax:     grad_x = y * (grad_y - sum_j grad_y[j] * y[j])
//   log_softmax: grad_x = grad_y - exp(y) * sum_j grad_y[j]
namespace cpu {
void softmax_forward(const Tensor& x, const Tensor& y, bool log_output);
void softmax_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x, bool log_output);
}  // namespace cpu

namespace cuda {
void softmax_forward(const Tensor& x, const Tensor& y, bool log_output);
void softmax_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x, bool log_output);
}  // namespace cuda

}  // namespace engram
