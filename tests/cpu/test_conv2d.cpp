#include <catch2/catch.hpp>
#include <numeric>

#include "core/autograd.h"
#include "kernels/conv2d.h"
#include "tests/support/checks.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/conv2d.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

using P = Conv2dParams;

// 1, 2, 3, ... laid out in `shape`, as doubles.
Tensor iota(const Shape& shape, double start = 1) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  std::iota(v.begin(), v.end(), start);
  return Tensor::from_vector<double>(v, shape);
}

Tensor values(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector<double>(v, shape); }

std::vector<double> out(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

TEST_CASE("conv2d output sizes follow PyTorch", "[conv2d]") {
  auto size = [](Shape x, Shape w, P p) {
    Conv2dGeometry g = conv2d_geometry("conv2d", x, w, p);
    return std::vector<int64_t>{g.out_height, g.out_width};
  };
  CHECK(size({1, 3, 32, 32}, {8, 3, 3, 3}, P::square(1, 1)) == std::vector<int64_t>{32, 32});
  CHECK(size({1, 3, 32, 32}, {8, 3, 3, 3}, P::square(2, 1)) == std::vector<int64_t>{16, 16});
  CHECK(size({1, 3, 7, 7}, {8, 3, 3, 3}, P::square(2, 1)) == std::vector<int64_t>{4, 4});
  CHECK(size({1, 3, 7, 6}, {8, 3, 3, 3}, P::square(2, 0)) == std::vector<int64_t>{3, 2});
  CHECK(size({1, 3, 7, 7}, {8, 3, 3, 3}, P::square(1, 0, 2)) == std::vector<int64_t>{3, 3});
  CHECK(size({1, 4, 7, 5}, {8, 4, 2, 3}, P{2, 1, 0, 1, 1, 2, 1}) == std::vector<int64_t>{3, 3});
  Conv2dGeometry g = conv2d_geometry("conv2d", {2, 4, 8, 8}, {6, 2, 3, 3}, P::square(1, 1, 1, 2));
  CHECK(g.flops() == 2.0 * 2 * 6 * 8 * 8 * 2 * 3 * 3);
}

TEST_CASE("conv2d with a centred one-hot kernel is the identity", "[conv2d]") {
  Tensor x = iota({2, 3, 5, 4});
  Tensor w = Tensor::zeros({3, 3, 3, 3}, DType::f64);
  double* pw = w.data<double>();
  for (int c = 0; c < 3; ++c) pw[((c * 3 + c) * 3 + 1) * 3 + 1] = 1;  // w[c, c, 1, 1] = 1
  CHECK(out(conv2d(x, w, Tensor(), P::square(1, 1))) == out(x));
}

TEST_CASE("conv2d of an all-ones 3x3 kernel counts the window, padding excluded", "[conv2d]") {
  Tensor y =
      conv2d(Tensor::ones({1, 1, 4, 4}, DType::f64), Tensor::ones({1, 1, 3, 3}, DType::f64), Tensor(), P::square(1, 1));
  CHECK(out(y) == std::vector<double>{4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4});
  Tensor valid = conv2d(Tensor::ones({1, 2, 4, 4}, DType::f64), Tensor::ones({1, 2, 3, 3}, DType::f64), Tensor());
  CHECK(valid.shape() == Shape{1, 1, 2, 2});
  CHECK(out(valid) == std::vector<double>{18, 18, 18, 18});
}

TEST_CASE("conv2d matches hand-computed 3x3 results on a 4x4 map with padding 1", "[conv2d]") {
  Tensor x = iota({1, 1, 4, 4});  // rows 1 2 3 4 / 5 6 7 8 / 9 10 11 12 / 13 14 15 16
  Tensor laplacian = values({0, 1, 0, 1, -4, 1, 0, 1, 0}, {1, 1, 3, 3});
  // up + down + left + right - 4 centre, zeros outside; e.g. (0,0): 5 + 2 - 4 = 3.
  CHECK(out(conv2d(x, laplacian, Tensor(), P::square(1, 1))) ==
        std::vector<double>{3, 2, 1, -5, -4, 0, 0, -9, -8, 0, 0, -13, -29, -18, -19, -37});

  // A kernel 1..9 is not symmetric: this fails if the kernel were flipped (true convolution).
  Tensor k = iota({1, 1, 3, 3});
  Tensor y = conv2d(x, k, values({0.5}, {1}), P::square(1, 1));
  CHECK(y.at<double>({0, 0, 0, 0}) == 5 * 1 + 6 * 2 + 8 * 5 + 9 * 6 + 0.5);            // 111.5
  CHECK(y.at<double>({0, 0, 1, 1}) == 1 + 4 + 9 + 20 + 30 + 42 + 63 + 80 + 99 + 0.5);  // 348.5
  CHECK(y.at<double>({0, 0, 3, 3}) == 1 * 11 + 2 * 12 + 4 * 15 + 5 * 16 + 0.5);        // 175.5

  // A one-hot top-left tap shifts the image down-right by one pixel.
  Tensor shift = values({1, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 3, 3});
  CHECK(out(conv2d(x, shift, Tensor(), P::square(1, 1))) ==
        std::vector<double>{0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11});
}

TEST_CASE("conv2d with stride 2 on odd sizes", "[conv2d]") {
  Tensor x = iota({1, 1, 5, 5});
  Tensor ones = Tensor::ones({1, 1, 3, 3}, DType::f64);
  // A 3x3 box sum is 9x its centre on a linear ramp: centres 7, 9, 17, 19.
  CHECK(out(conv2d(x, ones, Tensor(), P::square(2, 0))) == std::vector<double>{63, 81, 153, 171});
  Tensor padded = conv2d(x, ones, Tensor(), P::square(2, 1));
  CHECK(padded.shape() == Shape{1, 1, 3, 3});
  CHECK(padded.at<double>({0, 0, 0, 0}) == 1 + 2 + 6 + 7);
  CHECK(padded.at<double>({0, 0, 1, 1}) == 9 * 13);
  CHECK(padded.at<double>({0, 0, 2, 2}) == 19 + 20 + 24 + 25);
  // Different strides per direction: stride 2x1 keeps every column.
  Tensor y = conv2d(x, Tensor::ones({1, 1, 1, 1}, DType::f64), Tensor(), P{2, 1, 0, 0, 1, 1, 1});
  CHECK(out(y) == std::vector<double>{1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25});
}

TEST_CASE("conv2d with dilation 2 samples every other pixel", "[conv2d]") {
  Tensor x = iota({1, 1, 5, 5});
  Tensor y = conv2d(x, Tensor::ones({1, 1, 3, 3}, DType::f64), Tensor(), P::square(1, 0, 2));
  CHECK(out(y) == std::vector<double>{1 + 3 + 5 + 11 + 13 + 15 + 21 + 23 + 25});
  Tensor padded = conv2d(x, Tensor::ones({1, 1, 3, 3}, DType::f64), Tensor(), P::square(1, 2, 2));
  CHECK(padded.shape() == Shape{1, 1, 5, 5});
  CHECK(padded.at<double>({0, 0, 0, 0}) == 1 + 3 + 11 + 13);
  CHECK(padded.at<double>({0, 0, 1, 1}) == 7 + 9 + 17 + 19);
}

TEST_CASE("conv2d with groups 2 keeps the groups apart", "[conv2d]") {
  Tensor x = iota({1, 4, 2, 2});  // channels 1..4, 5..8, 9..12, 13..16
  Tensor w = values({1, 1, 1, -1}, {2, 2, 1, 1});
  // y0 = x0 + x1, y1 = x2 - x3
  CHECK(out(conv2d(x, w, Tensor(), P::square(1, 0, 1, 2))) == std::vector<double>{6, 8, 10, 12, -4, -4, -4, -4});
}

TEST_CASE("depthwise conv2d filters each channel on its own", "[conv2d]") {
  Tensor x = Tensor::ones({1, 2, 3, 3}, DType::f64);
  x.data<double>()[9 + 4] = 5;  // channel 1 centre
  Tensor y = conv2d(x, Tensor::ones({2, 1, 3, 3}, DType::f64), values({0, 100}, {2}), P::square(1, 1, 1, 2));
  CHECK(out(y) == std::vector<double>{4, 6, 4, 6, 9, 6, 4, 6, 4, 108, 110, 108, 110, 113, 110, 108, 110, 108});
  // Channel multiplier 2: output channel co reads input channel co / 2.
  Tensor z = conv2d(iota({1, 2, 1, 2}), values({1, 2, 3, 4}, {4, 1, 1, 1}), Tensor(), P::square(1, 0, 1, 2));
  CHECK(out(z) == std::vector<double>{1, 2, 2, 4, 9, 12, 12, 16});
}

TEST_CASE("conv2d gradients have closed forms for an all-ones kernel", "[conv2d]") {
  Tensor x = iota({1, 1, 4, 4}).requires_grad_();
  Tensor w = Tensor::ones({1, 1, 3, 3}, DType::f64).requires_grad_();
  Tensor b = Tensor::zeros({1}, DType::f64).requires_grad_();
  conv2d(x, w, b, P::square(1, 1)).backward(Tensor::ones({1, 1, 4, 4}, DType::f64));
  // d sum(y) / dx = how many windows cover the pixel.
  CHECK(out(x.grad()) == std::vector<double>{4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4});
  // d sum(y) / dw[kh, kw] = sum of x shifted by (kh - 1, kw - 1).
  CHECK(w.grad().at<double>({0, 0, 1, 1}) == 136);
  CHECK(w.grad().at<double>({0, 0, 0, 0}) == 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11);
  CHECK(w.grad().at<double>({0, 0, 2, 1}) == 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16);
  CHECK(out(b.grad()) == std::vector<double>{16});

  // Stride 2 on 5x5: windows start at rows/columns 0 and 2, so row 2 and column 2 are covered twice.
  Tensor x5 = iota({1, 1, 5, 5}).requires_grad_();
  conv2d(x5, Tensor::ones({1, 1, 3, 3}, DType::f64), Tensor(), P::square(2, 0))
      .backward(Tensor::ones({1, 1, 2, 2}, DType::f64));
  std::vector<double> counts{1, 1, 2, 1, 1}, expected;
  for (double r : counts)
    for (double c : counts) expected.push_back(r * c);
  CHECK(out(x5.grad()) == expected);
}

TEST_CASE("conv2d weight gradient sums the per-image gradients", "[conv2d]") {
  // 11 images split into 8 uneven chunks inside the reference: the total must equal the image-by-image sum.
  Generator gen(7);
  Tensor x = random::normal({11, 3, 6, 5}, 0, 1, gen, DType::f64);
  Tensor gy = random::normal({11, 4, 3, 3}, 0, 1, gen, DType::f64);
  P p = P::square(2, 1);
  Tensor total = Tensor::empty({4, 3, 3, 3}, DType::f64);
  cpu::conv2d_backward_weight(gy, x, p, total);
  std::vector<double> sum(total.numel(), 0.0);
  for (int64_t n = 0; n < 11; ++n) {
    Tensor one = Tensor::empty({4, 3, 3, 3}, DType::f64);
    cpu::conv2d_backward_weight(gy.narrow_rows(n, 1), x.narrow_rows(n, 1), p, one);
    std::vector<double> v = out(one);
    for (size_t i = 0; i < v.size(); ++i) sum[i] += v[i];
  }
  CHECK(testing::allclose(total, values(sum, {4, 3, 3, 3}), 1e-12, 1e-12));
}

TEST_CASE("conv2d in f32 agrees with f64", "[conv2d]") {
  Generator gen(3);
  Tensor x = random::normal({2, 5, 7, 6}, 0, 1, gen, DType::f64);
  Tensor w = random::normal({6, 5, 3, 3}, 0, 1, gen, DType::f64);
  Tensor b = random::normal({6}, 0, 1, gen, DType::f64);
  Tensor y64 = conv2d(x, w, b, P::square(2, 1));
  Tensor y32 = conv2d(x.to(DType::f32), w.to(DType::f32), b.to(DType::f32), P::square(2, 1));
  CHECK(y32.dtype() == DType::f32);
  CHECK(testing::allclose(y32, y64, 1e-4, 1e-4));
}

TEST_CASE("conv2d records no graph without grad", "[conv2d]") {
  Tensor x = Tensor::ones({1, 1, 3, 3}, DType::f64).requires_grad_();
  Tensor w = Tensor::ones({1, 1, 3, 3}, DType::f64);
  CHECK(conv2d(x, w, Tensor()).grad_fn() != nullptr);
  NoGradGuard no_grad;
  CHECK(conv2d(x, w, Tensor()).grad_fn() == nullptr);
}

TEST_CASE("conv2d rejects bad shapes, parameters and types", "[conv2d][errors]") {
  Tensor x = Tensor::zeros({2, 4, 6, 6});
  Tensor w = Tensor::zeros({8, 4, 3, 3});
  CHECK_THROWS_AS(conv2d(Tensor::zeros({4, 6, 6}), w, Tensor()), ShapeError);
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({4, 6, 6}), w, Tensor()),
                    Catch::StartsWith("conv2d: input must be 4-D") && Catch::Contains("[4, 6, 6]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({8, 4, 3}), Tensor()),
                    Catch::StartsWith("conv2d: weight must be 4-D") && Catch::Contains("[8, 4, 3]"));
  // Channel mismatch: weight expects 3 input channels, the input has 4.
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor()), ShapeError);
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor()),
                    Catch::StartsWith("conv2d:") && Catch::Contains("[2, 4, 6, 6]") && Catch::Contains("[8, 3, 3, 3]"));
  // Channels not divisible by groups.
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({8, 1, 3, 3}), Tensor(), P::square(1, 0, 1, 3)), ValueError);
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros({8, 1, 3, 3}), Tensor(), P::square(1, 0, 1, 3)),
                    Catch::StartsWith("conv2d: C_in = 4 is not divisible by groups = 3"));
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({5, 2, 3, 3}), Tensor(), P::square(1, 0, 1, 2)), ValueError);
  // Non-positive output size.
  CHECK_THROWS_AS(conv2d(Tensor::zeros({1, 4, 2, 2}), w, Tensor()), ShapeError);
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({1, 4, 2, 2}), w, Tensor()),
                    Catch::StartsWith("conv2d: output size would be non-positive"));
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), P::square(1, 0, 4)), ShapeError);  // dilated kernel 9 > 6
  // Bad parameters.
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), P::square(0)), Catch::StartsWith("conv2d: stride must be positive"));
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), P::square(1, 0, 0)), ValueError);
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), P::square(1, -1)), ValueError);
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), P::square(1, 0, 1, 0)), ValueError);
  // Bias shape and dtype.
  CHECK_THROWS_AS(conv2d(x, w, Tensor::zeros({4})), ShapeError);
  CHECK_THROWS_WITH(conv2d(x, w, Tensor::zeros({4})), Catch::StartsWith("conv2d: bias must be [C_out] = [8]"));
  CHECK_THROWS_AS(conv2d(x, w, Tensor::zeros({8}, DType::f64)), DTypeError);
  // Input / weight dtypes.
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({8, 4, 3, 3}, DType::f64), Tensor()), DTypeError);
  CHECK_THROWS_WITH(conv2d(Tensor::zeros({2, 4, 6, 6}, DType::i32), w, Tensor()),
                    Catch::StartsWith("conv2d: input must be f32 or f64, got i32"));
  CHECK_THROWS_AS(conv2d(Tensor(), w, Tensor()), ValueError);
}
