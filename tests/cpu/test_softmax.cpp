#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/softmax.h"
#include "tests/support/checks.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/softmax.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

// Rows with probabilities p0 = [1/8, 3/8, 1/2] and p1 = [1/3, 1/3, 1/3].
Tensor eighths(DType dtype) {
  return Tensor::from_vector<double>({0, std::log(3.0), std::log(4.0), 1, 1, 1}, {2, 3}).to(dtype);
}

}  // namespace

TEST_CASE("softmax and log_softmax compute closed-form values", "[softmax]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-14;
    Tensor expected_p = Tensor::from_vector<double>({1.0 / 8, 3.0 / 8, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}, {2, 3});
    Tensor p = softmax(eighths(dtype));
    CHECK(p.dtype() == dtype);
    CHECK(testing::allclose(p.to(DType::f64), expected_p, tol, tol));
    Tensor expected_log_p = Tensor::from_vector<double>(
        {-std::log(8.0), std::log(3.0 / 8), std::log(0.5), -std::log(3.0), -std::log(3.0), -std::log(3.0)}, {2, 3});
    CHECK(testing::allclose(log_softmax(eighths(dtype)).to(DType::f64), expected_log_p, tol, tol));
  }
}

TEST_CASE("softmax of one class is 1 and rows of many classes sum to 1", "[softmax]") {
  Tensor one_class = Tensor::from_vector<float>({-3, 0, 42}, {3, 1});
  CHECK(softmax(one_class).to_vector<float>() == std::vector<float>{1, 1, 1});
  CHECK(log_softmax(one_class).to_vector<float>() == std::vector<float>{0, 0, 0});

  Generator gen(7);
  Tensor x = random::normal({5, 1000}, 0.0, 3.0, gen, DType::f64);
  std::vector<double> p = softmax(x).to_vector<double>();
  for (int i = 0; i < 5; ++i) {
    double row_sum = 0;
    for (int j = 0; j < 1000; ++j) row_sum += p[i * 1000 + j];
    CHECK(row_sum == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("softmax stays finite for logits of 1e4", "[softmax]") {
  Tensor x = Tensor::from_vector<float>({1e4f, 0, -1e4f, 1e4f, 1e4f, 1e4f}, {2, 3});
  std::vector<float> p = softmax(x).to_vector<float>();
  CHECK(p[0] == 1.0f);
  CHECK(p[1] == 0.0f);
  CHECK(p[2] == 0.0f);
  for (int j = 3; j < 6; ++j) CHECK(p[j] == Approx(1.0 / 3).epsilon(1e-6));
  std::vector<float> log_p = log_softmax(x).to_vector<float>();
  CHECK(log_p[0] == 0.0f);
  CHECK(log_p[1] == -1e4f);
  CHECK(log_p[2] == -2e4f);
  CHECK(log_p[3] == Approx(-std::log(3.0)).epsilon(1e-6));
}

TEST_CASE("softmax gradients match their closed forms", "[softmax]") {
  // d/dx of sum(log_softmax(x)) = 1 - C * softmax(x).
  Tensor x = eighths(DType::f64).requires_grad_();
  log_softmax(x).backward(Tensor::ones({2, 3}, DType::f64));
  Tensor expected = Tensor::from_vector<double>({1 - 3.0 / 8, 1 - 9.0 / 8, 1 - 1.5, 0, 0, 0}, {2, 3});
  CHECK(testing::allclose(x.grad(), expected, 1e-14, 1e-14));

  // d softmax(x)_0 / d x_j = p_0 (delta_0j - p_j).
  Tensor y = eighths(DType::f64).requires_grad_();
  softmax(y).backward(Tensor::from_vector<double>({1, 0, 0, 0, 0, 0}, {2, 3}));
  Tensor expected_y = Tensor::from_vector<double>({1.0 / 8 * 7 / 8, -1.0 / 8 * 3 / 8, -1.0 / 8 / 2, 0, 0, 0}, {2, 3});
  CHECK(testing::allclose(y.grad(), expected_y, 1e-14, 1e-14));
}

TEST_CASE("softmax rejects misuse with a readable error", "[softmax][errors]") {
  CHECK_THROWS_AS(softmax(Tensor::zeros({6})), ShapeError);
  CHECK_THROWS_WITH(softmax(Tensor::zeros({2, 3, 4})),
                    Catch::StartsWith("softmax: ") && Catch::Contains("[N, C]") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_WITH(log_softmax(Tensor::zeros({6})), Catch::StartsWith("log_softmax: ") && Catch::Contains("[6]"));
  CHECK_THROWS_WITH(softmax(Tensor::zeros({2, 3}, DType::i32)),
                    Catch::StartsWith("softmax: ") && Catch::Contains("i32"));
  CHECK_THROWS_AS(softmax(Tensor::zeros({2, 3}, DType::i32)), DTypeError);
  CHECK_THROWS_AS(softmax(Tensor::zeros({0, 3})), ShapeError);
  CHECK_THROWS_WITH(log_softmax(Tensor::zeros({2, 0})),
                    Catch::StartsWith("log_softmax: ") && Catch::Contains("[2, 0]"));
  CHECK_THROWS_AS(softmax(Tensor()), ValueError);
}
