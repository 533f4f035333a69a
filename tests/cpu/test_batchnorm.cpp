#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "tests/support/checks.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/batchnorm.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

// x of shape [2, 2, 1, 2]; channel 0 holds {1, 3, 5, 7} (mean 4, biased var 5,
// unbiased 20/3), channel 1 holds {2, 4, 2, 4} (mean 3, biased var 1, unbiased 4/3).
Tensor two_channel_x() { return Tensor::from_vector<double>({1, 3, 2, 4, 5, 7, 2, 4}, {2, 2, 1, 2}); }

Tensor vec(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<double>(std::move(v), {n});
}

void check_values(const Tensor& actual, const std::vector<double>& expected, double tol = 1e-12) {
  std::vector<double> a = actual.to_vector<double>();
  REQUIRE(a.size() == expected.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i);
    CHECK(a[i] == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}

}  // namespace

TEST_CASE("batch_norm2d training normalises a hand-computed 2-channel batch", "[batchnorm]") {
  Tensor x = two_channel_x();
  Tensor weight = vec({2, 0.5}), bias = vec({1, -1});
  Tensor running_mean = vec({0, 0}), running_var = vec({1, 1});
  Tensor y = batch_norm2d(x, weight, bias, running_mean, running_var, /*training=*/true, 0.1, /*eps=*/0.0);
  const double s5 = std::sqrt(5.0);
  // Channel 0: (x - 4) / sqrt(5) * 2 + 1; channel 1: (x - 3) / 1 * 0.5 - 1.
  check_values(y, {-6 / s5 + 1, -2 / s5 + 1, -1.5, -0.5, 2 / s5 + 1, 6 / s5 + 1, -1.5, -0.5});
}

TEST_CASE("batch_norm2d updates running statistics with momentum and the unbiased variance", "[batchnorm]") {
  const double momentum = 0.1;
  Tensor running_mean = vec({0, 0}), running_var = vec({1, 1});
  Tensor x = two_channel_x();
  batch_norm2d(x, Tensor(), Tensor(), running_mean, running_var, true, momentum, 1e-5);
  // running = (1 - m) * running + m * batch statistic (variance times n / (n - 1)).
  std::vector<double> mean1 = {0.9 * 0 + 0.1 * 4, 0.9 * 0 + 0.1 * 3};
  std::vector<double> var1 = {0.9 * 1 + 0.1 * 20.0 / 3, 0.9 * 1 + 0.1 * 4.0 / 3};
  check_values(running_mean, mean1);
  check_values(running_var, var1);

  // A second, different batch: 2x + 1 doubles the mean (plus 1) and quadruples the variance.
  Tensor x2 = Tensor::from_vector<double>({3, 7, 5, 9, 11, 15, 5, 9}, {2, 2, 1, 2});
  batch_norm2d(x2, Tensor(), Tensor(), running_mean, running_var, true, momentum, 1e-5);
  check_values(running_mean, {0.9 * mean1[0] + 0.1 * 9, 0.9 * mean1[1] + 0.1 * 7});
  check_values(running_var, {0.9 * var1[0] + 0.1 * 80.0 / 3, 0.9 * var1[1] + 0.1 * 16.0 / 3});
}

TEST_CASE("batch_norm2d evaluation uses the running statistics and leaves them alone", "[batchnorm]") {
  Tensor x = two_channel_x();
  Tensor running_mean = vec({1, -1}), running_var = vec({4, 0.25});
  Tensor y = batch_norm2d(x, vec({2, 0.5}), vec({1, -1}), running_mean, running_var, /*training=*/false, 0.1, 0.0);
  // Channel 0: (x - 1) / 2 * 2 + 1 = x; channel 1: (x + 1) / 0.5 * 0.5 - 1 = x.
  check_values(y, {1, 3, 2, 4, 5, 7, 2, 4});
  check_values(running_mean, {1, -1});
  check_values(running_var, {4, 0.25});
}

TEST_CASE("batch_norm2d without affine parameters or running statistics standardises each channel", "[batchnorm]") {
  Generator gen(7);
  Tensor x = random::normal({3, 4, 5, 3}, 2.0, 3.0, gen, DType::f64);
  Tensor y = batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.0);
  std::vector<double> v = y.to_vector<double>();
  for (int64_t c = 0; c < 4; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 15; ++i) sum += v[(n * 4 + c) * 15 + i], squares += std::pow(v[(n * 4 + c) * 15 + i], 2);
    CHECK(sum / 45 == Approx(0).margin(1e-12));
    CHECK(squares / 45 == Approx(1).epsilon(1e-12));
  }
}

TEST_CASE("fused batch-norm variants equal batch norm followed by relu / add+relu", "[batchnorm]") {
  Generator gen(11);
  Tensor x = random::normal({2, 3, 4, 5}, 0.0, 1.0, gen, DType::f64);
  Tensor residual = random::normal({2, 3, 4, 5}, 0.0, 1.0, gen, DType::f64);
  Tensor weight = random::uniform({3}, 0.5, 1.5, gen, DType::f64), bias = random::normal({3}, 0, 1, gen, DType::f64);
  for (bool training : {true, false}) {
    Tensor rm = vec({0.1, -0.2, 0.3}), rv = vec({1.5, 0.7, 1.1});
    Tensor plain = batch_norm2d(x, weight, bias, rm.clone(), rv.clone(), training);
    CHECK(testing::allclose(batch_norm2d_relu(x, weight, bias, rm.clone(), rv.clone(), training), relu(plain), 1e-14,
                            1e-14));
    CHECK(testing::allclose(batch_norm2d_add_relu(x, residual, weight, bias, rm.clone(), rv.clone(), training),
                            add_relu(plain, residual), 1e-14, 1e-14));
  }
}

TEST_CASE("batch_norm2d backward has the closed-form gradients of sum(y)", "[batchnorm]") {
  Tensor x = two_channel_x().requires_grad_();
  Tensor weight = vec({2, 0.5}).requires_grad_(), bias = vec({1, -1}).requires_grad_();
  SECTION("training: the batch statistics cancel every gradient of x") {
    batch_norm2d(x, weight, bias, Tensor(), Tensor(), true, 0.1, 0.0).backward(Tensor::ones({2, 2, 1, 2}, DType::f64));
    check_values(x.grad(), std::vector<double>(8, 0.0));
    check_values(weight.grad(), {0, 0});  // sum of xhat over a channel
    check_values(bias.grad(), {4, 4});    // N * H * W
  }
  SECTION("evaluation: the op is affine in x") {
    Tensor running_mean = vec({1, -1}), running_var = vec({4, 0.25});
    batch_norm2d(x, weight, bias, running_mean, running_var, false, 0.1, 0.0)
        .backward(Tensor::ones({2, 2, 1, 2}, DType::f64));
    check_values(x.grad(), {1, 1, 1, 1, 1, 1, 1, 1});  // weight / sqrt(var) = 2 / 2 and 0.5 / 0.5
    check_values(weight.grad(), {(0 + 2 + 4 + 6) / 2.0, (3 + 5 + 3 + 5) / 0.5});
    check_values(bias.grad(), {4, 4});
  }
}

TEST_CASE("batch_norm2d_add_relu passes the masked gradient to the residual", "[batchnorm]") {
  Tensor x = two_channel_x().requires_grad_();
  Tensor residual = Tensor::from_vector<double>({0, 0, 0, 0, 0, 0, 5, -5}, {2, 2, 1, 2}).requires_grad_();
  Tensor running_mean = vec({4, 3}), running_var = vec({5, 1});
  // Evaluation with the batch's own statistics: y = relu(xhat + residual), xhat as in the first test.
  Tensor y = batch_norm2d_add_relu(x, residual, Tensor(), Tensor(), running_mean, running_var, false, 0.1, 0.0);
  const double s5 = std::sqrt(5.0);
  check_values(y, {0, 0, 0, 1, 1 / s5, 3 / s5, 4, 0});
  y.backward(Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 1, 2}));
  check_values(residual.grad(), {0, 0, 0, 4, 5, 6, 7, 0});
  check_values(x.grad(), {0, 0, 0, 4, 5 / s5, 6 / s5, 7, 0});
}

TEST_CASE("batch-norm ops reject misuse with the op's name and what was expected", "[batchnorm][errors]") {
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor c3 = Tensor::ones({3}), c4 = Tensor::ones({4});
  using Catch::StartsWith;
  CHECK_THROWS_AS(batch_norm2d(Tensor::zeros({2, 3, 4}), c3, c3, c3, c3, true), ShapeError);
  CHECK_THROWS_WITH(batch_norm2d(Tensor::zeros({2, 3, 4}), c3, c3, c3, c3, true),
                    StartsWith("batch_norm2d:") && Catch::Contains("4-D") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_AS(batch_norm2d(Tensor::zeros({2, 3, 4, 4}, DType::i32), c3, c3, c3, c3, true), DTypeError);
  CHECK_THROWS_AS(batch_norm2d(x, c4, c3, c3, c3, true), ShapeError);
  CHECK_THROWS_WITH(batch_norm2d(x, c3, c4, c3, c3, true),
                    StartsWith("batch_norm2d:") && Catch::Contains("bias") && Catch::Contains("[4]"));
  CHECK_THROWS_WITH(batch_norm2d(x, c3, c3, c4, c3, true), StartsWith("batch_norm2d:") &&
                                                               Catch::Contains("running_mean") &&
                                                               Catch::Contains("[3]") && Catch::Contains("[4]"));
  CHECK_THROWS_AS(batch_norm2d(x, c3, c3, c3, Tensor::ones({3, 1}), true), ShapeError);
  CHECK_THROWS_AS(batch_norm2d(x, c3, c3, c3, Tensor::ones({3}, DType::f64), true), DTypeError);
  CHECK_THROWS_AS(batch_norm2d(x, c3, c3, c3, Tensor(), true), ValueError);
  CHECK_THROWS_WITH(batch_norm2d(x, c3, c3, Tensor(), Tensor(), false),
                    StartsWith("batch_norm2d:") && Catch::Contains("running_mean"));
  CHECK_THROWS_WITH(batch_norm2d(Tensor::zeros({1, 3, 1, 1}), c3, c3, c3, c3, true),
                    StartsWith("batch_norm2d:") && Catch::Contains("more than one value per channel"));
  CHECK_NOTHROW(batch_norm2d(Tensor::zeros({1, 3, 1, 1}), c3, c3, c3, c3, false));
  CHECK_THROWS_AS(batch_norm2d(x, c3, c3, c3, c3, true, -0.1), ValueError);
  CHECK_THROWS_AS(batch_norm2d(x, c3, c3, c3, c3, true, 0.1, -1e-5), ValueError);
  CHECK_THROWS_WITH(batch_norm2d_relu(x, c4, c3, c3, c3, true), StartsWith("batch_norm2d_relu:"));
  CHECK_THROWS_WITH(
      batch_norm2d_add_relu(x, Tensor::zeros({2, 3, 4, 5}), c3, c3, c3, c3, true),
      StartsWith("batch_norm2d_add_relu:") && Catch::Contains("residual") && Catch::Contains("[2, 3, 4, 5]"));
  CHECK_THROWS_AS(batch_norm2d_add_relu(x, Tensor(), c3, c3, c3, c3, true), ValueError);
  CHECK_THROWS_AS(batch_norm2d_add_relu(x, Tensor::zeros({2, 3, 4, 4}, DType::f64), c3, c3, c3, c3, true), DTypeError);
}
