#include "kernels/reduce.h"

#include <limits>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

// Resolves a possibly negative dim against x's rank; throws ShapeError naming op.
int64_t resolve_dim(const char* op, const Tensor& x, int64_t dim) {
  int64_t rank = x.dim();
  ENGRAM_CHECK(rank >= 1, ShapeError, op, "expected a tensor with at least 1 dimension to reduce along, got a scalar");
  ENGRAM_CHECK(dim >= -rank && dim < rank, ShapeError, op,
               "dim " + std::to_string(dim) + " out of range for shape " + shape_str(x.shape()) + " (expected " +
                   std::to_string(-rank) + " to " + std::to_string(rank - 1) + ")");
  return dim < 0 ? dim + rank : dim;
}

ReduceView view_along(const Tensor& x, int64_t dim) {
  ReduceView view;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) view.outer *= x.size(d);
    if (d > dim) view.inner *= x.size(d);
  }
  view.n = x.size(dim);
  return view;
}

ReduceView view_all(const Tensor& x) {
  ReduceView view;
  view.n = x.numel();
  return view;
}

Shape reduced_shape(const Tensor& x, int64_t dim, bool keepdim) {
  Shape shape = x.shape();
  if (keepdim)
    shape[dim] = 1;
  else
    shape.erase(shape.begin() + dim);
  return shape;
}

// 1/n for a mean; NaN for an empty reduction (0 * NaN keeps the mean NaN).
double mean_scale(int64_t n) { return n > 0 ? 1.0 / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN(); }

Tensor sum_backend(const Tensor& x, const ReduceView& view, double scale, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  ENGRAM_DISPATCH(reduce, "sum", x, sum, x, view, scale, out);
  return out;
}

Tensor broadcast_backend(const Tensor& g, const ReduceView& view, double scale, const Shape& x_shape) {
  Tensor grad_x = Tensor::empty(x_shape, g.dtype(), g.device());
  ENGRAM_DISPATCH(reduce, "sum backward", g, broadcast, g, view, scale, grad_x);
  return grad_x;
}

// sum and mean share everything but the scale and the name.
Tensor scaled_sum(const char* op, const Tensor& x, const ReduceView& view, double scale, const Shape& out_shape) {
  Tensor out = sum_backend(x, view, scale, out_shape);
  Shape x_shape = x.shape();
  return autograd::record(op, out, {x}, [view, scale, x_shape](const Tensor& g) {
    return std::vector<Tensor>{broadcast_backend(g, view, scale, x_shape)};
  });
}

void max_backend(const Tensor& x, const ReduceView& view, const Tensor& values, const Tensor& indices) {
  ENGRAM_DISPATCH(reduce, "max", x, max, x, view, values, indices);
}

// max and argmax: a non-empty dimension whose indices fit in i32.
void check_max_dim(const char* op, const Tensor& x, int64_t dim) {
  ENGRAM_CHECK(
      x.size(dim) > 0, ShapeError, op,
      "cannot take the maximum over dim " + std::to_string(dim) + " of size 0 in shape " + shape_str(x.shape()));
  ENGRAM_CHECK(
      x.size(dim) <= std::numeric_limits<int32_t>::max(), ShapeError, op,
      "dim " + std::to_string(dim) + " has " + std::to_string(x.size(dim)) + " elements, more than an i32 index holds");
}

}  // namespace

Tensor sum(const Tensor& x) {
  check_floating("sum", "x", x);
  return scaled_sum("sum", x, view_all(x), 1.0, {});
}

Tensor mean(const Tensor& x) {
  check_floating("mean", "x", x);
  return scaled_sum("mean", x, view_all(x), mean_scale(x.numel()), {});
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  check_floating("sum", "x", x);
  int64_t d = resolve_dim("sum", x, dim);
  return scaled_sum("sum", x, view_along(x, d), 1.0, reduced_shape(x, d, keepdim));
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  check_floating("mean", "x", x);
  int64_t d = resolve_dim("mean", x, dim);
  return scaled_sum("mean", x, view_along(x, d), mean_scale(x.size(d)), reduced_shape(x, d, keepdim));
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  check_floating("max", "x", x);
  int64_t d = resolve_dim("max", x, dim);
  check_max_dim("max", x, d);
  ReduceView view = view_along(x, d);
  Shape out_shape = reduced_shape(x, d, keepdim);
  Tensor values = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(out_shape, DType::i32, x.device());
  max_backend(x, view, values, indices);
  Shape x_shape = x.shape();
  return autograd::record("max", values, {x}, [indices, view, x_shape](const Tensor& g) {
    Tensor grad_x = Tensor::empty(x_shape, g.dtype(), g.device());
    ENGRAM_DISPATCH(reduce, "max backward", g, max_backward, g, indices, view, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  check_floating("argmax", "x", x);
  int64_t d = resolve_dim("argmax", x, dim);
  check_max_dim("argmax", x, d);
  Tensor indices = Tensor::empty(reduced_shape(x, d, keepdim), DType::i32, x.device());
  max_backend(x, view_along(x, d), Tensor(), indices);
  return indices;
}

Tensor count_correct(const Tensor& logits, const Tensor& labels) {
  check_dim("count_correct", "logits", logits, 2, "[N, C]");
  check_floating("count_correct", "logits", logits);
  check_dim("count_correct", "labels", labels, 1, "[N]");
  check_dtype("count_correct", "labels", labels, DType::i32);
  check_same_device("count_correct", logits, labels);
  ENGRAM_CHECK(labels.size(0) == logits.size(0), ShapeError, "count_correct",
               "labels must hold one label per row of logits " + shape_str(logits.shape()) + ", got shape " +
                   shape_str(labels.shape()));
  ENGRAM_CHECK(logits.size(1) > 0, ShapeError, "count_correct",
               "logits need at least one class, got shape " + shape_str(logits.shape()));
  Tensor count = Tensor::empty({}, DType::i32, logits.device());
  ENGRAM_DISPATCH(reduce, "count_correct", logits, count_correct, logits, labels, count);
  return count;
}

}  // namespace engram
