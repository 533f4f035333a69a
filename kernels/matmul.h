#pragma once
// Matrix products with autograd, built on the raw GEMM of kernels/gemm.h.
//
//   matmul(a, b, trans_a, trans_b)  op(a) @ op(b), where op transposes the last
//                                   two dims when asked:
//                                   2-D [m, k] x [k, n] -> [m, n]
//                                   3-D [B, m, k] x [B, k, n] -> [B, m, n]
//   linear(x, weight, bias)         x @ weight^T + bias, PyTorch layout:
//                                   x [N, in], weight [out, in], bias [out]
//                                   (optional) -> [N, out]
//
// Backward passes are GEMMs with transposes; the bias gradient is a column
// sum of the output gradient. Gradients are computed only for inputs that
// require them.
#include "core/tensor.h"

namespace engram {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// Backends of the bias helpers; rows is [N, F], bias is [F].
namespace cpu {
void bias_broadcast(const Tensor& bias, const Tensor& rows);           // rows[i, j] = bias[j]
void bias_backward(const Tensor& grad_rows, const Tensor& grad_bias);  // grad_bias[j] = sum_i grad_rows[i, j]
}  // namespace cpu

namespace cuda {
void bias_broadcast(const Tensor& bias, const Tensor& rows);
void bias_backward(const Tensor& grad_rows, const Tensor& grad_bias);
}  // namespace cuda

}  // namespace engram
