#pragma once
// Shape ops: flatten (a reshape, no copy) and concat (a copy).
//
// concat along `dim` sees every tensor as a row-major [outer, rows_k] block,
// where outer = product of the sizes before dim and rows_k = size_k(dim) *
// (product of the sizes after dim): piece k fills columns
// [offset_k, offset_k + rows_k) of the output's [outer, sum_k rows_k] block.
#include <vector>

#include "core/tensor.h"

namespace engram {

// Merges dimensions start_dim.. into one (negative start_dim counts from the
// end); a scalar becomes [1]. Differentiable; shares x's storage.
Tensor flatten(const Tensor& x, int64_t start_dim = 1);
// Joins tensors of one rank, dtype and device along dim (negative counts
// from the end); the other sizes must agree. Differentiable: the gradient is
// split back into the pieces. Any dtype is accepted.
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);

// Backends. `outer` is the product of the sizes before the concat dimension.
// Every dtype is copied as raw elements of its size.
namespace cpu {
// out = concat(pieces) along the dimension that `outer` describes.
void concat(const std::vector<Tensor>& pieces, int64_t outer, const Tensor& out);
// The reverse: pieces[k] = its block of `whole` (the backward of concat).
void split(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces);
}  // namespace cpu

namespace cuda {
void concat(const std::vector<Tensor>& pieces, int64_t outer, const Tensor& out);
void split(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces);
}  // namespace cuda

}  // namespace engram
