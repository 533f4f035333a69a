#include "kernels/shape_ops.h"

#include <string>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

int64_t resolve_dim(const char* op, int64_t dim, int64_t rank, const Shape& shape) {
  ENGRAM_CHECK(dim >= -rank && dim < rank, ShapeError, op,
               "dim " + std::to_string(dim) + " out of range for shape " + shape_str(shape) + " (expected " +
                   std::to_string(-rank) + " to " + std::to_string(rank - 1) + ")");
  return dim < 0 ? dim + rank : dim;
}

void check_pieces(const std::vector<Tensor>& tensors, int64_t dim) {
  ENGRAM_CHECK(!tensors.empty(), ValueError, "concat", "expected at least one tensor, got none");
  for (size_t k = 0; k < tensors.size(); ++k)
    ENGRAM_CHECK(tensors[k].defined(), ValueError, "concat", "tensor " + std::to_string(k) + " is undefined");
  const Tensor& first = tensors[0];
  ENGRAM_CHECK(first.dim() >= 1, ShapeError, "concat", "cannot concatenate scalars (tensor 0 has shape [])");
  for (size_t k = 1; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    std::string which = "tensor " + std::to_string(k);
    ENGRAM_CHECK(t.dtype() == first.dtype(), DTypeError, "concat",
                 which + " is " + dtype_name(t.dtype()) + ", expected " + dtype_name(first.dtype()) + " like tensor 0");
    ENGRAM_CHECK(t.device() == first.device(), DeviceError, "concat",
                 which + " is on " + t.device().str() + ", expected " + first.device().str() + " like tensor 0");
    ENGRAM_CHECK(t.dim() == first.dim(), ShapeError, "concat",
                 which + " has shape " + shape_str(t.shape()) + ", expected " + std::to_string(first.dim()) +
                     " dimensions like tensor 0 " + shape_str(first.shape()));
  }
  int64_t d = resolve_dim("concat", dim, first.dim(), first.shape());
  for (size_t k = 1; k < tensors.size(); ++k)
    for (int64_t i = 0; i < first.dim(); ++i)
      ENGRAM_CHECK(i == d || tensors[k].size(i) == first.size(i), ShapeError, "concat",
                   "tensor " + std::to_string(k) + " has shape " + shape_str(tensors[k].shape()) +
                       ", expected the sizes of tensor 0 " + shape_str(first.shape()) + " except in dim " +
                       std::to_string(d));
}

}  // namespace

Tensor flatten(const Tensor& x, int64_t start_dim) {
  check_defined("flatten", "x", x);
  if (x.dim() == 0) {
    resolve_dim("flatten", start_dim, 1, x.shape());
    return x.reshape({1});
  }
  int64_t start = resolve_dim("flatten", start_dim, x.dim(), x.shape());
  Shape shape(x.shape().begin(), x.shape().begin() + start);
  int64_t merged = 1;
  for (int64_t d = start; d < x.dim(); ++d) merged *= x.size(d);
  shape.push_back(merged);
  return x.reshape(shape);
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  check_pieces(tensors, dim);
  const Tensor& first = tensors[0];
  int64_t d = dim < 0 ? dim + first.dim() : dim;
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (const Tensor& t : tensors) out_shape[d] += t.size(d);
  int64_t outer = 1;
  for (int64_t i = 0; i < d; ++i) outer *= first.size(i);

  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  ENGRAM_DISPATCH(shape, "concat", out, concat, tensors, outer, out);

  std::vector<Shape> shapes;
  for (const Tensor& t : tensors) shapes.push_back(t.shape());
  return autograd::record("concat", out, tensors, [shapes, outer](const Tensor& g) {
    std::vector<Tensor> grads;
    for (const Shape& s : shapes) grads.push_back(Tensor::empty(s, g.dtype(), g.device()));
    ENGRAM_DISPATCH(shape, "concat backward", g, split, g, outer, grads);
    return grads;
  });
}

}  // namespace engram
