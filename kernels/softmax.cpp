#include "kernels/softmax.h"

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

void check_logits(const char* op, const Tensor& x) {
  check_dim(op, "x", x, 2, "[N, C]");
  check_floating(op, "x", x);
  ENGRAM_CHECK(x.size(0) >= 1 && x.size(1) >= 1, ShapeError, op,
               "x must have at least one row and one column, got shape " + shape_str(x.shape()));
}

Tensor softmax_op(const char* op, const Tensor& x, bool log_output) {
  check_logits(op, x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ENGRAM_DISPATCH(softmax, op, x, softmax_forward, x, y, log_output);
  Tensor y_saved = y.detach();  // y is the op's own output: see the ownership rule in core/autograd.h
  return autograd::record(op, y, {x}, [y_saved, log_output, op](const Tensor& grad_y) {
    Tensor grad_x = Tensor::empty(y_saved.shape(), y_saved.dtype(), y_saved.device());
    ENGRAM_DISPATCH(softmax, op, y_saved, softmax_backward, y_saved, grad_y, grad_x, log_output);
    return std::vector<Tensor>{grad_x};
  });
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op("softmax", x, false); }

Tensor log_softmax(const Tensor& x) { return softmax_op("log_softmax", x, true); }

}  // namespace engram
