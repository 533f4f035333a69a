#include "tests/cases/pool.h"

#include <cmath>

#include "kernels/pool.h"

namespace engram::testing {

namespace {

// A permutation of evenly spaced values: all distinct, 0.01 apart (far more
// than a finite-difference step), so max-pool windows have a unique winner.
MakeInputs distinct_inputs(Shape shape) {
  return [shape](DType dtype, Generator& gen) {
    const int64_t n = shape_numel(shape);
    std::vector<int32_t> order = random::permutation(n, gen).to_vector<int32_t>();
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = 0.01 * (order[i] - n / 2);
    return std::vector<Tensor>{Tensor::from_vector(values, shape).to(dtype).requires_grad_()};
  };
}

// Values on a coarse grid (multiples of 0.5 in [-2, 2]), so windows tie often.
MakeInputs tied_inputs(Shape shape) {
  return [shape](DType dtype, Generator& gen) {
    std::vector<double> values = random::normal(shape, 0.0, 1.0, gen, DType::f64).to_vector<double>();
    for (double& v : values) v = std::max(-2.0, std::min(2.0, std::round(2 * v) / 2));
    return std::vector<Tensor>{Tensor::from_vector(values, shape).to(dtype).requires_grad_()};
  };
}

std::string window_tag(int64_t k, int64_t s, int64_t p, const Shape& shape) {
  return " k" + std::to_string(k) + " s" + std::to_string(s) + " p" + std::to_string(p) + " " + shape_str(shape);
}

OpCase max_case(Shape shape, int64_t k, int64_t s, int64_t p, double tol) {
  OpCase c{"max_pool2d" + window_tag(k, s, p, shape), distinct_inputs(shape),
           [k, s, p](const std::vector<Tensor>& in) { return max_pool2d(in[0], k, s, p); }};
  c.parity_tolerance = tol;
  return c;
}

OpCase avg_case(Shape shape, int64_t k, int64_t s, int64_t p, bool include_pad, double tol) {
  OpCase c{"avg_pool2d" + window_tag(k, s, p, shape) + (include_pad ? " include_pad" : " exclude_pad"),
           normal_inputs({shape}),
           [=](const std::vector<Tensor>& in) { return avg_pool2d(in[0], k, s, p, include_pad); }};
  c.parity_tolerance = tol;
  return c;
}

OpCase adaptive_case(Shape shape, int64_t oh, int64_t ow, double tol) {
  OpCase c{"adaptive_avg_pool2d " + shape_str(shape) + " -> " + std::to_string(oh) + "x" + std::to_string(ow),
           normal_inputs({shape}),
           [oh, ow](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], oh, ow); }};
  c.parity_tolerance = tol;
  return c;
}

OpCase global_case(Shape shape, double tol) {
  OpCase c{"global_avg_pool2d " + shape_str(shape), normal_inputs({shape}),
           [](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); }};
  c.parity_tolerance = tol;
  return c;
}

}  // namespace

std::vector<OpCase> pool_cases() {
  // Max-pool copies values exactly; averages differ by float rounding only.
  const double exact = 1e-6, tol = 1e-5;
  std::vector<OpCase> cases{
      max_case({2, 3, 7, 7}, 3, 2, 1, exact),  // the ResNet stem's window on an odd map
      max_case({1, 5, 6, 6}, 2, 2, 0, exact),
      max_case({2, 2, 5, 4}, 3, 1, 1, exact),  // overlapping windows: an input can win several
      max_case({1, 2, 7, 7}, 3, 3, 0, exact),  // the last row and column are never pooled
      max_case({1, 3, 5, 5}, 2, 2, 1, exact),
      max_case({1, 1, 1, 1}, 1, 1, 0, exact),
      max_case({2, 3, 7, 9}, 2, 2, 0, exact),  // odd, non-square: the last column is never pooled
      max_case({2, 2, 1, 1}, 3, 2, 1, exact),  // a 1x1 map: the window is mostly padding
      max_case({1, 2, 8, 3}, 3, 3, 1, exact),  // stride = kernel, a 3-wide map
      avg_case({2, 3, 7, 7}, 3, 2, 1, true, tol),
      avg_case({2, 3, 7, 7}, 3, 2, 1, false, tol),
      avg_case({1, 5, 6, 6}, 2, 2, 0, true, tol),
      avg_case({2, 2, 5, 4}, 3, 1, 1, false, tol),
      avg_case({1, 3, 5, 5}, 2, 2, 1, true, tol),
      avg_case({1, 3, 5, 5}, 2, 2, 1, false, tol),
      avg_case({1, 2, 8, 8}, 3, 3, 1, true, tol),  // windows clipped at the far edge by the padded size
      avg_case({1, 2, 8, 8}, 3, 3, 1, false, tol),
      avg_case({2, 2, 1, 1}, 3, 2, 1, false, tol),  // one real cell per window
      avg_case({2, 1, 3, 9}, 2, 1, 1, true, tol),
      adaptive_case({2, 3, 7, 7}, 3, 3, tol),  // overlapping windows
      adaptive_case({1, 5, 5, 7}, 2, 3, tol),
      adaptive_case({1, 2, 4, 4}, 4, 4, tol),  // identity
      adaptive_case({2, 2, 3, 5}, 5, 2, tol),  // more outputs than inputs along H
      adaptive_case({1, 3, 7, 7}, 1, 1, tol),
      adaptive_case({2, 2, 8, 8}, 3, 5, tol),  // uneven windows in both directions
      adaptive_case({1, 2, 5, 3}, 1, 7, tol),  // more outputs than inputs along W
      adaptive_case({2, 1, 1, 1}, 2, 2, tol),  // a 1x1 map spread over 2x2
      global_case({2, 3, 7, 7}, tol),
      global_case({1, 5, 1, 1}, tol),
      global_case({2, 4, 3, 5}, tol),
      global_case({1, 3, 4, 4}, tol),  // float4 path
      global_case({3, 5, 3, 3}, tol),  // scalar path, odd plane
      global_case({2, 3, 1, 12}, tol),
  };

  // Parity only: larger maps.
  for (OpCase c : {
           max_case({8, 16, 32, 32}, 3, 2, 1, exact),
           max_case({4, 7, 33, 31}, 2, 2, 0, exact),
           avg_case({8, 16, 33, 33}, 3, 2, 1, false, tol),
           avg_case({8, 16, 33, 33}, 3, 2, 1, true, tol),
           avg_case({4, 8, 32, 32}, 2, 2, 0, true, tol),
           adaptive_case({8, 16, 32, 32}, 7, 7, tol),
           adaptive_case({4, 8, 13, 17}, 5, 3, tol),
           global_case({32, 64, 8, 8}, tol),  // float4 path
           global_case({16, 32, 7, 7}, tol),  // scalar path
           global_case({8, 16, 56, 56}, tol),
       })
    cases.push_back(parity_only(c));
  // Ties: both backends take the first maximum in row-major window order.
  OpCase tied{"max_pool2d ties k3 s1 p1 [4,6,9,9]", tied_inputs({4, 6, 9, 9}),
              [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 1, 1); }};
  tied.parity_tolerance = exact;
  cases.push_back(parity_only(tied));
  // A batch of 0.
  for (OpCase c : {max_case({0, 3, 5, 5}, 3, 2, 1, exact), avg_case({0, 2, 4, 4}, 2, 2, 0, true, tol),
                   adaptive_case({0, 2, 5, 5}, 2, 2, tol), global_case({0, 3, 4, 4}, tol)})
    cases.push_back(parity_only(c));
  // A float4-sized plane on misaligned inputs: the scalar global-average kernel.
  cases.push_back(unaligned(global_case({2, 3, 4, 4}, tol)));
  // NaN, +Inf, -Inf at (0, 0), (0, 2) and (0, 4) of the first plane: max picks
  // the NaN, windows that hold both infinities average to NaN.
  cases.push_back(non_finite(max_case({2, 2, 5, 5}, 3, 2, 1, exact), 2));
  cases.push_back(non_finite(max_case({1, 2, 4, 6}, 2, 2, 0, exact), 3));  // each in its own window
  cases.push_back(non_finite(avg_case({2, 2, 5, 5}, 3, 2, 1, false, tol), 2));
  cases.push_back(non_finite(avg_case({2, 2, 5, 5}, 3, 1, 1, true, tol), 2));
  cases.push_back(non_finite(adaptive_case({2, 2, 5, 5}, 3, 2, tol), 2));
  cases.push_back(non_finite(global_case({2, 3, 4, 4}, tol), 16));  // one plane each
  cases.push_back(non_finite(global_case({2, 3, 3, 3}, tol), 9));
  return cases;
}

}  // namespace engram::testing
