#include <catch2/catch.hpp>

#include "kernels/elementwise.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/elementwise.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

TEST_CASE("elementwise ops compute closed-form values", "[elementwise]") {
  Tensor a = Tensor::from_vector<float>({1, -2, 3, -4, 0, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({0.5f, 0.5f, -5, 1, 0, -7}, {2, 3});
  CHECK(add(a, b).to_vector<float>() == std::vector<float>{1.5f, -1.5f, -2, -3, 0, -1});
  CHECK(sub(a, b).to_vector<float>() == std::vector<float>{0.5f, -2.5f, 8, -5, 0, 13});
  CHECK(mul(a, b).to_vector<float>() == std::vector<float>{0.5f, -1, -15, -4, 0, -42});
  CHECK(scale(a, -2).to_vector<float>() == std::vector<float>{-2, 4, -6, 8, 0, -12});
  CHECK(relu(a).to_vector<float>() == std::vector<float>{1, 0, 3, 0, 0, 6});
  CHECK(add_relu(a, b).to_vector<float>() == std::vector<float>{1.5f, 0, 0, 0, 0, 0});
}

TEST_CASE("relu passes no gradient at or below zero", "[elementwise]") {
  Tensor x = Tensor::from_vector<double>({-1, 0, 2}, {3}).requires_grad_();
  relu(x).backward(Tensor::from_vector<double>({5, 5, 5}, {3}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 0, 5});
}

TEST_CASE("elementwise ops reject mismatched arguments", "[elementwise][errors]") {
  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_AS(add(a, Tensor::zeros({3, 2})), ShapeError);
  CHECK_THROWS_AS(mul(a, Tensor::zeros({2, 3}, DType::f64)), DTypeError);
  CHECK_THROWS_AS(relu(Tensor::zeros({2}, DType::i32)), DTypeError);
  CHECK_THROWS_WITH(sub(a, Tensor::zeros({6})), Catch::Contains("sub") && Catch::Contains("[2, 3]"));
}
