// CPU reference of pooling: one (n, c) plane at a time, OpenMP over planes.
// Backward passes scatter into grad_x plane by plane, which is race-free
// because a plane belongs to one thread.
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"

namespace engram::cpu {

namespace {

struct Planes {
  int64_t count;         // N * C
  int64_t in_h, in_w;    // input plane
  int64_t out_h, out_w;  // output plane (1x1 for global pooling)
  int64_t in_size() const { return in_h * in_w; }
  int64_t out_size() const { return out_h * out_w; }
};

Planes planes_of(const Tensor& x, const Tensor& y) {
  const bool global = y.dim() == 2;
  return {x.size(0) * x.size(1), x.size(2), x.size(3), global ? 1 : y.size(2), global ? 1 : y.size(3)};
}

template <typename Body>
void for_each_plane(const Planes& planes, Body body) {
  const int64_t work = planes.count * std::max(planes.in_size(), planes.out_size());
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
  for (int64_t p = 0; p < planes.count; ++p) body(p);
}

// The rows (or columns) of the input a pooling window starts and ends at,
// clipped to the input; `start` may have been negative before clipping.
struct Span {
  int64_t start, end;
};

Span window_span(int64_t o, int64_t kernel, int64_t stride, int64_t pad, int64_t in) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, in)};
}

// PyTorch's adaptive window: [floor(o * in / out), ceil((o + 1) * in / out)).
Span adaptive_span(int64_t o, int64_t out, int64_t in) { return {(o * in) / out, ((o + 1) * in + out - 1) / out}; }

// The divisor of avg_pool2d's window at (oh, ow).
int64_t avg_divisor(int64_t oh, int64_t ow, const PoolWindow& w, bool count_include_pad, const Planes& planes) {
  const Span rows = window_span(oh, w.kernel_h, w.stride_h, w.pad_h, planes.in_h);
  const Span cols = window_span(ow, w.kernel_w, w.stride_w, w.pad_w, planes.in_w);
  if (!count_include_pad) return (rows.end - rows.start) * (cols.end - cols.start);
  // The window clipped to the padded input (PyTorch's pool_size); without
  // ceil_mode it never leaves the padded input, so this is kernel_h * kernel_w.
  const int64_t h0 = oh * w.stride_h - w.pad_h, w0 = ow * w.stride_w - w.pad_w;
  return (std::min(h0 + w.kernel_h, planes.in_h + w.pad_h) - h0) *
         (std::min(w0 + w.kernel_w, planes.in_w + w.pad_w) - w0);
}

template <typename T>
void max_forward(const Tensor& x, const PoolWindow& w, const Tensor& y, const Tensor& argmax) {
  const Planes planes = planes_of(x, y);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  int32_t* pi = argmax.data<int32_t>();
  for_each_plane(planes, [&](int64_t p) {
    const T* in = px + p * planes.in_size();
    for (int64_t oh = 0; oh < planes.out_h; ++oh) {
      for (int64_t ow = 0; ow < planes.out_w; ++ow) {
        const Span rows = window_span(oh, w.kernel_h, w.stride_h, w.pad_h, planes.in_h);
        const Span cols = window_span(ow, w.kernel_w, w.stride_w, w.pad_w, planes.in_w);
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_index = rows.start * planes.in_w + cols.start;
        for (int64_t ih = rows.start; ih < rows.end; ++ih) {
          for (int64_t iw = cols.start; iw < cols.end; ++iw) {
            const T v = in[ih * planes.in_w + iw];
            if (v > best || (std::isnan(v) && !std::isnan(best))) {  // the first NaN wins, as in PyTorch
              best = v;
              best_index = ih * planes.in_w + iw;
            }
          }
        }
        const int64_t o = p * planes.out_size() + oh * planes.out_w + ow;
        py[o] = best;
        pi[o] = static_cast<int32_t>(best_index);
      }
    }
  });
}

template <typename T>
void max_backward(const Tensor& grad_y, const Tensor& argmax, const Tensor& grad_x) {
  const Planes planes = planes_of(grad_x, grad_y);
  const T* pg = grad_y.data<T>();
  const int32_t* pi = argmax.data<int32_t>();
  T* gx = grad_x.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    T* plane = gx + p * planes.in_size();
    std::fill(plane, plane + planes.in_size(), T(0));
    for (int64_t o = p * planes.out_size(); o < (p + 1) * planes.out_size(); ++o) plane[pi[o]] += pg[o];
  });
}

template <typename T>
void avg_forward(const Tensor& x, const PoolWindow& w, bool count_include_pad, const Tensor& y) {
  const Planes planes = planes_of(x, y);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    const T* in = px + p * planes.in_size();
    for (int64_t oh = 0; oh < planes.out_h; ++oh) {
      for (int64_t ow = 0; ow < planes.out_w; ++ow) {
        const Span rows = window_span(oh, w.kernel_h, w.stride_h, w.pad_h, planes.in_h);
        const Span cols = window_span(ow, w.kernel_w, w.stride_w, w.pad_w, planes.in_w);
        double sum = 0;
        for (int64_t ih = rows.start; ih < rows.end; ++ih)
          for (int64_t iw = cols.start; iw < cols.end; ++iw) sum += in[ih * planes.in_w + iw];
        py[p * planes.out_size() + oh * planes.out_w + ow] =
            static_cast<T>(sum / avg_divisor(oh, ow, w, count_include_pad, planes));
      }
    }
  });
}

template <typename T>
void avg_backward(const Tensor& grad_y, const PoolWindow& w, bool count_include_pad, const Tensor& grad_x) {
  const Planes planes = planes_of(grad_x, grad_y);
  const T* pg = grad_y.data<T>();
  T* gx = grad_x.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    T* plane = gx + p * planes.in_size();
    std::fill(plane, plane + planes.in_size(), T(0));
    for (int64_t oh = 0; oh < planes.out_h; ++oh) {
      for (int64_t ow = 0; ow < planes.out_w; ++ow) {
        const Span rows = window_span(oh, w.kernel_h, w.stride_h, w.pad_h, planes.in_h);
        const Span cols = window_span(ow, w.kernel_w, w.stride_w, w.pad_w, planes.in_w);
        const T share = pg[p * planes.out_size() + oh * planes.out_w + ow] /
                        static_cast<T>(avg_divisor(oh, ow, w, count_include_pad, planes));
        for (int64_t ih = rows.start; ih < rows.end; ++ih)
          for (int64_t iw = cols.start; iw < cols.end; ++iw) plane[ih * planes.in_w + iw] += share;
      }
    }
  });
}

template <typename T>
void adaptive_forward(const Tensor& x, const Tensor& y) {
  const Planes planes = planes_of(x, y);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    const T* in = px + p * planes.in_size();
    for (int64_t oh = 0; oh < planes.out_h; ++oh) {
      for (int64_t ow = 0; ow < planes.out_w; ++ow) {
        const Span rows = adaptive_span(oh, planes.out_h, planes.in_h);
        const Span cols = adaptive_span(ow, planes.out_w, planes.in_w);
        double sum = 0;
        for (int64_t ih = rows.start; ih < rows.end; ++ih)
          for (int64_t iw = cols.start; iw < cols.end; ++iw) sum += in[ih * planes.in_w + iw];
        const int64_t count = (rows.end - rows.start) * (cols.end - cols.start);
        py[p * planes.out_size() + oh * planes.out_w + ow] = static_cast<T>(sum / count);
      }
    }
  });
}

template <typename T>
void adaptive_backward(const Tensor& grad_y, const Tensor& grad_x) {
  const Planes planes = planes_of(grad_x, grad_y);
  const T* pg = grad_y.data<T>();
  T* gx = grad_x.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    T* plane = gx + p * planes.in_size();
    std::fill(plane, plane + planes.in_size(), T(0));
    for (int64_t oh = 0; oh < planes.out_h; ++oh) {
      for (int64_t ow = 0; ow < planes.out_w; ++ow) {
        const Span rows = adaptive_span(oh, planes.out_h, planes.in_h);
        const Span cols = adaptive_span(ow, planes.out_w, planes.in_w);
        const int64_t count = (rows.end - rows.start) * (cols.end - cols.start);
        const T share = pg[p * planes.out_size() + oh * planes.out_w + ow] / static_cast<T>(count);
        for (int64_t ih = rows.start; ih < rows.end; ++ih)
          for (int64_t iw = cols.start; iw < cols.end; ++iw) plane[ih * planes.in_w + iw] += share;
      }
    }
  });
}

template <typename T>
void global_forward(const Tensor& x, const Tensor& y) {
  const Planes planes = planes_of(x, y);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    double sum = 0;
    for (int64_t i = 0; i < planes.in_size(); ++i) sum += px[p * planes.in_size() + i];
    py[p] = static_cast<T>(sum / planes.in_size());
  });
}

template <typename T>
void global_backward(const Tensor& grad_y, const Tensor& grad_x) {
  const Planes planes = planes_of(grad_x, grad_y);
  const T* pg = grad_y.data<T>();
  T* gx = grad_x.data<T>();
  for_each_plane(planes, [&](int64_t p) {
    const T share = pg[p] / static_cast<T>(planes.in_size());
    std::fill(gx + p * planes.in_size(), gx + (p + 1) * planes.in_size(), share);
  });
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const PoolWindow& window, const Tensor& y, const Tensor& argmax) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] { max_forward<scalar_t>(x, window, y, argmax); });
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& argmax, const PoolWindow&, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "max_pool2d_backward",
                           [&] { max_backward<scalar_t>(grad_y, argmax, grad_x); });
}

void avg_pool2d_forward(const Tensor& x, const PoolWindow& window, bool count_include_pad, const Tensor& y) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] { avg_forward<scalar_t>(x, window, count_include_pad, y); });
}

void avg_pool2d_backward(const Tensor& grad_y, const PoolWindow& window, bool count_include_pad, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "avg_pool2d_backward",
                           [&] { avg_backward<scalar_t>(grad_y, window, count_include_pad, grad_x); });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d", [&] { adaptive_forward<scalar_t>(x, y); });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "adaptive_avg_pool2d_backward",
                           [&] { adaptive_backward<scalar_t>(grad_y, grad_x); });
}

void global_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "global_avg_pool2d", [&] { global_forward<scalar_t>(x, y); });
}

void global_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_y.dtype(), "global_avg_pool2d_backward",
                           [&] { global_backward<scalar_t>(grad_y, grad_x); });
}

}  // namespace engram::cpu
