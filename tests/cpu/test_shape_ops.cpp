#include <catch2/catch.hpp>

#include "kernels/shape_ops.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/shape_ops.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

TEST_CASE("flatten merges the trailing dimensions without copying", "[shape_ops]") {
  Tensor x = Tensor::from_vector<float>(std::vector<float>(120, 1.5f), {2, 3, 4, 5});
  CHECK(flatten(x).shape() == Shape{2, 60});
  CHECK(flatten(x, 0).shape() == Shape{120});
  CHECK(flatten(x, 2).shape() == Shape{2, 3, 20});
  CHECK(flatten(x, -1).shape() == Shape{2, 3, 4, 5});
  CHECK(flatten(x, -3).shape() == Shape{2, 60});
  CHECK(flatten(x).raw_data() == x.raw_data());
  CHECK(flatten(Tensor::scalar(2.0), 0).shape() == Shape{1});
  CHECK(flatten(Tensor::zeros({1, 1}), 1).shape() == Shape{1, 1});
  CHECK(flatten(Tensor::zeros({3}, DType::u8), 0).shape() == Shape{3});

  Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {1, 2, 3}).requires_grad_();
  flatten(w).backward(Tensor::from_vector<double>({6, 5, 4, 3, 2, 1}, {1, 6}));
  CHECK(w.grad().shape() == Shape{1, 2, 3});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{6, 5, 4, 3, 2, 1});
}

TEST_CASE("concat joins along any dimension", "[shape_ops]") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector<float>({5, 6}, {2, 1});
  Tensor c = Tensor::from_vector<float>({7, 8}, {1, 2});
  CHECK(concat({a, b}, 1).shape() == Shape{2, 3});
  CHECK(concat({a, b}, 1).to_vector<float>() == std::vector<float>{1, 2, 5, 3, 4, 6});
  CHECK(concat({a, b}, -1).to_vector<float>() == std::vector<float>{1, 2, 5, 3, 4, 6});
  CHECK(concat({a, c}, 0).to_vector<float>() == std::vector<float>{1, 2, 3, 4, 7, 8});
  CHECK(concat({c, a, c}, 0).shape() == Shape{4, 2});
  CHECK(concat({a}, 0).to_vector<float>() == a.to_vector<float>());

  // [1, 2, 2] ++ [1, 2, 1] along the last dim.
  Tensor d = Tensor::from_vector<double>({1, 2, 3, 4}, {1, 2, 2});
  Tensor e = Tensor::from_vector<double>({9, 8}, {1, 2, 1});
  CHECK(concat({d, e}, 2).to_vector<double>() == std::vector<double>{1, 2, 9, 3, 4, 8});
  CHECK(concat({e, d}, -1).to_vector<double>() == std::vector<double>{9, 1, 2, 8, 3, 4});

  // Other dtypes are copied as they are; empty pieces are allowed.
  Tensor i = Tensor::from_vector<int32_t>({1, 2}, {2});
  Tensor u = Tensor::from_vector<uint8_t>({3, 4, 5}, {3});
  CHECK(concat({i, Tensor::zeros({0}, DType::i32), i}, 0).to_vector<int32_t>() == std::vector<int32_t>{1, 2, 1, 2});
  CHECK(concat({u, u}, 0).to_vector<uint8_t>() == std::vector<uint8_t>{3, 4, 5, 3, 4, 5});
}

TEST_CASE("concat's gradient is split back into the pieces", "[shape_ops]") {
  Tensor a = Tensor::zeros({2, 2}, DType::f64).requires_grad_();
  Tensor b = Tensor::zeros({2, 1}, DType::f64);  // needs no gradient
  Tensor c = Tensor::zeros({2, 3}, DType::f64).requires_grad_();
  Tensor y = concat({a, b, c}, 1);
  y.backward(Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 6}));
  CHECK(a.grad().to_vector<double>() == std::vector<double>{1, 2, 7, 8});
  CHECK(c.grad().to_vector<double>() == std::vector<double>{4, 5, 6, 10, 11, 12});
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("shape ops reject bad arguments", "[shape_ops][errors]") {
  Tensor x = Tensor::zeros({2, 3, 4, 5});
  CHECK_THROWS_WITH(flatten(x, 4), Catch::StartsWith("flatten:") && Catch::Contains("dim 4"));
  CHECK_THROWS_AS(flatten(x, -5), ShapeError);
  CHECK_THROWS_AS(flatten(Tensor::scalar(1.0), 1), ShapeError);
  CHECK_THROWS_AS(flatten(Tensor(), 1), ValueError);

  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(concat({}, 0), Catch::StartsWith("concat:") && Catch::Contains("at least one"));
  CHECK_THROWS_AS(concat({a, Tensor()}, 0), ValueError);
  CHECK_THROWS_WITH(concat({a, Tensor::zeros({2, 3}, DType::f64)}, 0),
                    Catch::StartsWith("concat:") && Catch::Contains("f64") && Catch::Contains("f32"));
  CHECK_THROWS_AS(concat({a, Tensor::zeros({6})}, 0), ShapeError);
  CHECK_THROWS_WITH(concat({a, Tensor::zeros({3, 3})}, 1),
                    Catch::StartsWith("concat:") && Catch::Contains("[3, 3]") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(concat({a, a}, 2), Catch::StartsWith("concat:") && Catch::Contains("dim 2"));
  CHECK_THROWS_AS(concat({a, a}, -3), ShapeError);
  CHECK_THROWS_AS(concat({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0), ShapeError);
}
