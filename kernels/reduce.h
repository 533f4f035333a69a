#pragma once
// Reductions: sum and mean (over everything or along one dimension), max and
// argmax along a dimension, and the accuracy count of a classifier.
//
// Every reduction along `dim` sees its input as a row-major [outer, n, inner]
// block, where n = x.size(dim), outer = product of the sizes before dim and
// inner = product of the sizes after it; the output is [outer, inner]. A
// whole-tensor reduction is the case [1, numel, 1]. The backends take that
// view, so one kernel serves every rank and dim.
//
// Ties: max and argmax pick the lowest index among equal values (as PyTorch);
// a NaN counts as larger than every number, so it propagates.
#include "core/tensor.h"

namespace engram {

// Sum / mean of all elements: a scalar tensor (shape {}). The mean of an
// empty tensor is NaN, as in PyTorch.
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
// Along one dimension (negative dims count from the end); keepdim leaves a
// size-1 dimension in its place.
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Largest value along dim. Differentiable: the gradient goes to the first
// position holding the maximum.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
// Index (i32) of the first maximum along dim. Not differentiable.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// Number of rows whose argmax (lowest index among ties) equals the label:
// logits [N, C] floating, labels i32 [N], result an i32 scalar on the same
// device. Computed on the device without a host sync, so a training loop can
// add it up in device memory. A label outside [0, C) never counts as correct.
Tensor count_correct(const Tensor& logits, const Tensor& labels);

// The [outer, n, inner] view of a reduction along one dimension.
struct ReduceView {
  int64_t outer = 1, n = 1, inner = 1;
};

// Backends. Outputs are written (=), never accumulated into.
namespace cpu {
// out[o, i] = scale * sum_j x[o, j, i]   (out holds outer * inner elements)
void sum(const Tensor& x, const ReduceView& view, double scale, const Tensor& out);
// grad_x[o, j, i] = scale * grad_out[o, i]   (the backward of sum and mean)
void broadcast(const Tensor& grad_out, const ReduceView& view, double scale, const Tensor& grad_x);
// values[o, i] = max_j x[o, j, i], indices[o, i] = its first j (i32). Either
// output may be undefined when the caller does not need it.
void max(const Tensor& x, const ReduceView& view, const Tensor& values, const Tensor& indices);
// grad_x[o, j, i] = grad_values[o, i] where j == indices[o, i], else 0.
void max_backward(const Tensor& grad_values, const Tensor& indices, const ReduceView& view, const Tensor& grad_x);
// count (i32 scalar) = #{r : argmax(logits[r, :]) == labels[r]}.
void count_correct(const Tensor& logits, const Tensor& labels, const Tensor& count);
}  // namespace cpu

namespace cuda {
void sum(const Tensor& x, const ReduceView& view, double scale, const Tensor& out);
void broadcast(const Tensor& grad_out, const ReduceView& view, double scale, const Tensor& grad_x);
void max(const Tensor& x, const ReduceView& view, const Tensor& values, const Tensor& indices);
void max_backward(const Tensor& grad_values, const Tensor& indices, const ReduceView& view, const Tensor& grad_x);
void count_correct(const Tensor& logits, const Tensor& labels, const Tensor& count);
}  // namespace cuda

}  // namespace engram
