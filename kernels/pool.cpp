#include "kernels/pool.h"

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

void check_input(const char* op, const Tensor& x) {
  check_dim(op, "x", x, 4, "[N, C, H, W]");
  check_floating(op, "x", x);
  ENGRAM_CHECK(x.size(2) > 0 && x.size(3) > 0, ShapeError, op,
               "x must have non-empty planes, got shape " + shape_str(x.shape()));
}

// Validates a square window on x and returns the output shape [N, C, OH, OW].
Shape pooled_shape(const char* op, const Tensor& x, const PoolWindow& window) {
  check_input(op, x);
  const int64_t kernel = window.kernel_h, stride = window.stride_h, padding = window.pad_h;
  ENGRAM_CHECK(kernel > 0, ValueError, op, "kernel must be positive, got " + std::to_string(kernel));
  ENGRAM_CHECK(stride > 0, ValueError, op, "stride must be positive, got " + std::to_string(stride));
  ENGRAM_CHECK(
      padding >= 0 && 2 * padding <= kernel, ValueError, op,
      "padding must be in [0, kernel / 2] = [0, " + std::to_string(kernel / 2) + "], got " + std::to_string(padding));
  const int64_t padded_h = x.size(2) + 2 * padding, padded_w = x.size(3) + 2 * padding;
  ENGRAM_CHECK(kernel <= padded_h && kernel <= padded_w, ShapeError, op,
               "kernel " + std::to_string(kernel) + " is larger than the padded input " + std::to_string(padded_h) +
                   "x" + std::to_string(padded_w) + " (x of shape " + shape_str(x.shape()) + ", padding " +
                   std::to_string(padding) + ")");
  return {x.size(0), x.size(1), (padded_h - kernel) / stride + 1, (padded_w - kernel) / stride + 1};
}

PoolWindow square_window(int64_t kernel, int64_t stride, int64_t padding) {
  return {kernel, kernel, stride, stride, padding, padding};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolWindow window = square_window(kernel, stride, padding);
  const Shape out_shape = pooled_shape("max_pool2d", x, window);
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(out_shape, DType::i32, x.device());
  ENGRAM_DISPATCH(pool, "max_pool2d", x, max_pool2d_forward, x, window, y, argmax);
  Tensor x_meta = x.detach();  // for the shape, dtype and device of grad_x only
  return autograd::record("max_pool2d", y, {x}, [=](const Tensor& grad_y) {
    Tensor grad_x = Tensor::empty_like(x_meta);
    ENGRAM_DISPATCH(pool, "max_pool2d", grad_y, max_pool2d_backward, grad_y, argmax, window, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad) {
  const PoolWindow window = square_window(kernel, stride, padding);
  Tensor y = Tensor::empty(pooled_shape("avg_pool2d", x, window), x.dtype(), x.device());
  ENGRAM_DISPATCH(pool, "avg_pool2d", x, avg_pool2d_forward, x, window, count_include_pad, y);
  Tensor x_meta = x.detach();
  return autograd::record("avg_pool2d", y, {x}, [=](const Tensor& grad_y) {
    Tensor grad_x = Tensor::empty_like(x_meta);
    ENGRAM_DISPATCH(pool, "avg_pool2d", grad_y, avg_pool2d_backward, grad_y, window, count_include_pad, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_input("adaptive_avg_pool2d", x);
  ENGRAM_CHECK(out_h > 0 && out_w > 0, ValueError, "adaptive_avg_pool2d",
               "output size must be positive, got " + std::to_string(out_h) + "x" + std::to_string(out_w));
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  ENGRAM_DISPATCH(pool, "adaptive_avg_pool2d", x, adaptive_avg_pool2d_forward, x, y);
  Tensor x_meta = x.detach();
  return autograd::record("adaptive_avg_pool2d", y, {x}, [x_meta](const Tensor& grad_y) {
    Tensor grad_x = Tensor::empty_like(x_meta);
    ENGRAM_DISPATCH(pool, "adaptive_avg_pool2d", grad_y, adaptive_avg_pool2d_backward, grad_y, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_input("global_avg_pool2d", x);
  Tensor y = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());
  ENGRAM_DISPATCH(pool, "global_avg_pool2d", x, global_avg_pool2d_forward, x, y);
  Tensor x_meta = x.detach();
  return autograd::record("global_avg_pool2d", y, {x}, [x_meta](const Tensor& grad_y) {
    Tensor grad_x = Tensor::empty_like(x_meta);
    ENGRAM_DISPATCH(pool, "global_avg_pool2d", grad_y, global_avg_pool2d_backward, grad_y, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

}  // namespace engram
