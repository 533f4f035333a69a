#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/random.h"
#include "kernels/reduce.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/reduce.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

Tensor table_2x3() { return Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}); }

}  // namespace

TEST_CASE("sum and mean of all elements give scalars", "[reduce]") {
  Tensor x = table_2x3();
  Tensor s = sum(x), m = mean(x);
  CHECK(s.shape() == Shape{});
  CHECK(m.shape() == Shape{});
  CHECK(s.item<float>() == 21.0f);
  CHECK(m.item<float>() == 3.5f);
  CHECK(sum(Tensor::full({1, 1}, -4.0)).item<float>() == -4.0f);
}

TEST_CASE("sum and mean along a dimension, with and without keepdim", "[reduce]") {
  Tensor x = table_2x3();
  CHECK(sum(x, 0).shape() == Shape{3});
  CHECK(sum(x, 0).to_vector<float>() == std::vector<float>{5, 7, 9});
  CHECK(sum(x, 1).to_vector<float>() == std::vector<float>{6, 15});
  CHECK(sum(x, -1, true).shape() == Shape{2, 1});
  CHECK(sum(x, -1, true).to_vector<float>() == std::vector<float>{6, 15});
  CHECK(mean(x, 0).to_vector<float>() == std::vector<float>{2.5f, 3.5f, 4.5f});
  CHECK(mean(x, -2, true).shape() == Shape{1, 3});

  // [2, 3, 2]: the middle dimension has both an outer and an inner extent.
  Tensor y = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2});
  CHECK(sum(y, 1).shape() == Shape{2, 2});
  CHECK(sum(y, 1).to_vector<double>() == std::vector<double>{9, 12, 27, 30});
  CHECK(mean(y, 1).to_vector<double>() == std::vector<double>{3, 4, 9, 10});
  CHECK(sum(y, 2).to_vector<double>() == std::vector<double>{3, 7, 11, 15, 19, 23});
  CHECK(sum(y, 0).to_vector<double>() == std::vector<double>{8, 10, 12, 14, 16, 18});
}

TEST_CASE("sums of odd and large shapes match a plain loop", "[reduce]") {
  // 100003 elements: the long-row path that sums fixed chunks in parallel.
  Generator gen(7);
  Tensor x = random::normal({100003}, 0.0, 1.0, gen, DType::f64);
  std::vector<double> v = x.to_vector<double>();
  double expected = 0;
  for (double e : v) expected += e;
  CHECK(sum(x).item<double>() == Approx(expected).epsilon(1e-12));
  CHECK(mean(x).item<double>() == Approx(expected / 100003).epsilon(1e-12));
  CHECK(sum(Tensor::ones({100003})).item<float>() == 100003.0f);

  // [2, 3, 7, 7] over channels (dim 1): per (n, h, w) a sum of 3 values.
  Tensor maps = random::normal({2, 3, 7, 7}, 0.0, 1.0, gen, DType::f64);
  std::vector<double> m = maps.to_vector<double>();
  std::vector<double> over_channels = sum(maps, 1).to_vector<double>();
  REQUIRE(over_channels.size() == 2 * 49);
  for (int n = 0; n < 2; ++n)
    for (int p = 0; p < 49; ++p)
      CHECK(over_channels[n * 49 + p] == Approx(m[n * 147 + p] + m[n * 147 + 49 + p] + m[n * 147 + 98 + p]));
}

TEST_CASE("empty reductions: sum is 0, mean is NaN", "[reduce]") {
  Tensor empty = Tensor::zeros({0, 3});
  CHECK(sum(empty).item<float>() == 0.0f);
  CHECK(std::isnan(mean(empty).item<float>()));
  CHECK(sum(empty, 0).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(sum(empty, 1).shape() == Shape{0});
}

TEST_CASE("max and argmax pick the first maximum", "[reduce]") {
  Tensor x = Tensor::from_vector<float>({1, 5, 5, 7, -1, 7}, {2, 3});
  CHECK(max(x, 1).to_vector<float>() == std::vector<float>{5, 7});
  CHECK(argmax(x, 1).to_vector<int32_t>() == std::vector<int32_t>{1, 0});
  CHECK(argmax(x, 1).dtype() == DType::i32);
  CHECK(max(x, 0).to_vector<float>() == std::vector<float>{7, 5, 7});
  CHECK(argmax(x, 0).to_vector<int32_t>() == std::vector<int32_t>{1, 0, 1});
  CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
  CHECK(max(x, 0, true).shape() == Shape{1, 3});

  float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor all_minus_inf = Tensor::from_vector<float>({-inf, -inf, -inf}, {1, 3});
  CHECK(argmax(all_minus_inf, 1).item<int32_t>() == 0);
  // NaN counts as the largest value, as in PyTorch; the first NaN wins.
  Tensor with_nan = Tensor::from_vector<float>({1, nan, 3, nan}, {4});
  CHECK(argmax(with_nan, 0).item<int32_t>() == 1);
  CHECK(std::isnan(max(with_nan, 0).item<float>()));
}

TEST_CASE("gradients of sum, mean and max", "[reduce]") {
  Tensor x = Tensor::from_vector<double>({1, 5, 5, 7, -1, 7}, {2, 3}).requires_grad_();
  sum(x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 1, 1, 1});
  x.zero_grad();
  mean(x).backward();
  for (double g : x.grad().to_vector<double>()) CHECK(g == Approx(1.0 / 6));
  x.zero_grad();
  sum(x, 0).backward(Tensor::from_vector<double>({1, 2, 3}, {3}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2, 3, 1, 2, 3});
  x.zero_grad();
  mean(x, 1, true).backward(Tensor::from_vector<double>({3, 6}, {2, 1}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 2, 2, 2});
  x.zero_grad();
  // Ties: the whole gradient goes to the first maximum.
  max(x, 1).backward(Tensor::from_vector<double>({2, 3}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 2, 0, 3, 0, 0});
  CHECK_FALSE(argmax(x, 1).requires_grad());
}

TEST_CASE("count_correct counts rows whose first argmax is the label", "[reduce]") {
  // Row 2 is a tie: its argmax is class 0, so label 0 is right and row 4's label 1 is not.
  Tensor logits = Tensor::from_vector<float>({0.1f, 0.9f, 0.8f, 0.2f, 0.5f, 0.5f, 0.3f, 0.7f, 0.5f, 0.5f}, {5, 2});
  Tensor labels = Tensor::from_vector<int32_t>({1, 1, 0, 1, 1}, {5});
  Tensor count = count_correct(logits, labels);
  CHECK(count.dtype() == DType::i32);
  CHECK(count.shape() == Shape{});
  CHECK(count.item<int32_t>() == 3);
  // Out-of-range labels never match.
  CHECK(count_correct(logits, Tensor::from_vector<int32_t>({-1, 2, 7, -5, 2}, {5})).item<int32_t>() == 0);
  // Batch of one, one class: always right when the label is 0.
  CHECK(count_correct(Tensor::ones({1, 1}), Tensor::zeros({1}, DType::i32)).item<int32_t>() == 1);
  CHECK(count_correct(Tensor::ones({0, 4}), Tensor::zeros({0}, DType::i32)).item<int32_t>() == 0);
}

TEST_CASE("reductions reject bad arguments with named errors", "[reduce][errors]") {
  Tensor x = table_2x3();
  CHECK_THROWS_AS(sum(Tensor::zeros({2}, DType::i32)), DTypeError);
  CHECK_THROWS_WITH(mean(Tensor::zeros({2}, DType::u8)), Catch::StartsWith("mean:") && Catch::Contains("u8"));
  CHECK_THROWS_AS(sum(x, 2), ShapeError);
  CHECK_THROWS_WITH(sum(x, 2), Catch::StartsWith("sum:") && Catch::Contains("dim 2") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(mean(x, -3), Catch::StartsWith("mean:") && Catch::Contains("-2 to 1"));
  CHECK_THROWS_AS(sum(Tensor::scalar(1.0), 0), ShapeError);
  CHECK_THROWS_WITH(max(Tensor::zeros({3, 0}), 1), Catch::StartsWith("max:") && Catch::Contains("size 0"));
  CHECK_THROWS_AS(argmax(x, 5), ShapeError);
  CHECK_THROWS_AS(argmax(Tensor::zeros({3}, DType::i32), 0), DTypeError);
  CHECK_THROWS_AS(sum(Tensor()), ValueError);

  Tensor labels = Tensor::zeros({2}, DType::i32);
  CHECK_THROWS_WITH(count_correct(Tensor::zeros({2, 3, 1}), labels),
                    Catch::StartsWith("count_correct:") && Catch::Contains("[N, C]") && Catch::Contains("[2, 3, 1]"));
  CHECK_THROWS_AS(count_correct(x, Tensor::zeros({2})), DTypeError);
  CHECK_THROWS_WITH(count_correct(x, Tensor::zeros({3}, DType::i32)),
                    Catch::StartsWith("count_correct:") && Catch::Contains("[3]"));
  CHECK_THROWS_AS(count_correct(x, Tensor::zeros({2, 1}, DType::i32)), ShapeError);
  CHECK_THROWS_AS(count_correct(Tensor::zeros({2, 0}), labels), ShapeError);
  CHECK_THROWS_AS(count_correct(Tensor::zeros({2, 3}, DType::i32), labels), DTypeError);
}
