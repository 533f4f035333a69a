#include <catch2/catch.hpp>

#include "kernels/pool.h"
#include "tests/support/checks.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/pool.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

void check_values(const Tensor& actual, const std::vector<double>& expected, double tol = 1e-12) {
  std::vector<double> a = actual.to_vector<double>();
  REQUIRE(a.size() == expected.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i);
    CHECK(a[i] == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}

// A 4x4 plane with ties inside windows:
//   1 2 2 0
//   3 3 1 1
//   0 1 4 4
//   2 2 4 0
Tensor tied_plane() {
  return Tensor::from_vector<double>({1, 2, 2, 0, 3, 3, 1, 1, 0, 1, 4, 4, 2, 2, 4, 0}, {1, 1, 4, 4});
}

std::vector<double> one_hot_sum(std::initializer_list<std::pair<int, double>> entries, size_t n) {
  std::vector<double> v(n, 0.0);
  for (auto [index, value] : entries) v[index] += value;
  return v;
}

}  // namespace

TEST_CASE("max_pool2d takes the first maximum of each window and routes its gradient there", "[pool]") {
  SECTION("2x2 windows, stride 2") {
    Tensor x = tied_plane().requires_grad_();
    Tensor y = max_pool2d(x, 2, 2, 0);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    check_values(y, {3, 2, 2, 4});
    y.backward(Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}));
    // Winners: (1,0) among {1,2,3,3}; (0,2) among {2,0,1,1}; (3,0) among {0,1,2,2}; (2,2) among {4,4,4,0}.
    check_values(x.grad(), one_hot_sum({{4, 1}, {2, 2}, {12, 3}, {10, 4}}, 16));
  }
  SECTION("3x3 windows, stride 2, padding 1: one input wins two windows") {
    Tensor x = tied_plane().requires_grad_();
    Tensor y = max_pool2d(x, 3, 2, 1);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    check_values(y, {3, 3, 3, 4});
    y.backward(Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}));
    check_values(x.grad(), one_hot_sum({{4, 1}, {5, 2}, {4, 3}, {10, 4}}, 16));
  }
  SECTION("padding is -inf, never 0") {
    Tensor x = Tensor::from_vector<double>({-1, -2, -3, -4}, {1, 1, 2, 2});
    check_values(max_pool2d(x, 2, 1, 1), {-1, -1, -2, -1, -1, -2, -3, -3, -4});
  }
}

TEST_CASE("avg_pool2d divides by the window with or without the padding", "[pool]") {
  // 1 2 3 / 4 5 6 / 7 8 9, 3x3 windows, stride 1, padding 1.
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  SECTION("count_include_pad: always divide by 9") {
    Tensor xg = x.clone().requires_grad_();
    Tensor y = avg_pool2d(xg, 3, 1, 1, true);
    check_values(y, {12 / 9.0, 21 / 9.0, 16 / 9.0, 27 / 9.0, 45 / 9.0, 33 / 9.0, 24 / 9.0, 39 / 9.0, 28 / 9.0});
    y.backward(Tensor::ones({1, 1, 3, 3}, DType::f64));
    // An input receives 1/9 from each window covering it: 4 at corners, 6 at edges, 9 in the centre.
    check_values(xg.grad(), {4 / 9.0, 6 / 9.0, 4 / 9.0, 6 / 9.0, 1, 6 / 9.0, 4 / 9.0, 6 / 9.0, 4 / 9.0});
  }
  SECTION("exclude padding: divide by the real cells") {
    Tensor xg = x.clone().requires_grad_();
    Tensor y = avg_pool2d(xg, 3, 1, 1, false);
    check_values(y, {12 / 4.0, 21 / 6.0, 16 / 4.0, 27 / 6.0, 45 / 9.0, 33 / 6.0, 24 / 4.0, 39 / 6.0, 28 / 4.0});
    y.backward(Tensor::ones({1, 1, 3, 3}, DType::f64));
    const double corner = 1 / 4.0 + 2 / 6.0 + 1 / 9.0, edge = 2 / 4.0 + 3 / 6.0 + 1 / 9.0;
    const double centre = 4 / 4.0 + 4 / 6.0 + 1 / 9.0;
    check_values(xg.grad(), {corner, edge, corner, edge, centre, edge, corner, edge, corner});
  }
  SECTION("2x2 windows, stride 2, odd size: the last row and column are dropped") {
    Tensor y = avg_pool2d(x, 2, 2, 0);
    CHECK(y.shape() == Shape{1, 1, 1, 1});
    check_values(y, {3});
  }
}

TEST_CASE("adaptive_avg_pool2d uses PyTorch's overlapping windows", "[pool]") {
  SECTION("7 -> 3 rows: windows [0,3), [2,5), [4,7)") {
    Tensor x = Tensor::from_vector<double>({0, 1, 2, 3, 4, 5, 6}, {1, 1, 7, 1}).requires_grad_();
    Tensor y = adaptive_avg_pool2d(x, 3, 1);
    check_values(y, {1, 3, 5});
    y.backward(Tensor::ones({1, 1, 3, 1}, DType::f64));
    check_values(x.grad(), {1 / 3.0, 1 / 3.0, 2 / 3.0, 1 / 3.0, 2 / 3.0, 1 / 3.0, 1 / 3.0});
  }
  SECTION("3 -> 5 columns: windows [0,1), [0,2), [1,2), [1,3), [2,3)") {
    Tensor x = Tensor::from_vector<double>({2, 4, 8}, {1, 1, 1, 3}).requires_grad_();
    Tensor y = adaptive_avg_pool2d(x, 1, 5);
    check_values(y, {2, 3, 4, 6, 8});
    y.backward(Tensor::ones({1, 1, 1, 5}, DType::f64));
    check_values(x.grad(), {1.5, 2, 1.5});
  }
  SECTION("divisible sizes equal avg_pool2d") {
    Generator gen(3);
    Tensor x = random::normal({2, 3, 8, 6}, 0, 1, gen, DType::f64);
    CHECK(testing::allclose(adaptive_avg_pool2d(x, 4, 3), avg_pool2d(x, 2, 2, 0), 1e-14, 1e-14));
  }
}

TEST_CASE("global_avg_pool2d averages each plane into [N, C]", "[pool]") {
  Generator gen(5);
  Tensor x = random::normal({2, 3, 7, 7}, 0, 1, gen, DType::f64).requires_grad_();
  Tensor y = global_avg_pool2d(x);
  REQUIRE(y.shape() == Shape{2, 3});
  std::vector<double> v = x.to_vector<double>(), expected(6, 0.0);
  for (int p = 0; p < 6; ++p) {
    for (int i = 0; i < 49; ++i) expected[p] += v[p * 49 + i];
    expected[p] /= 49;
  }
  check_values(y, expected);
  y.backward(Tensor::from_vector<double>({49, 98, 0, -49, 4.9, 1}, {2, 3}));
  std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[0] == Approx(1));
  CHECK(g[48] == Approx(1));
  CHECK(g[49] == Approx(2));
  CHECK(g[2 * 49 + 3] == 0);
  CHECK(g[3 * 49 + 10] == Approx(-1));
  CHECK(g[4 * 49 + 7] == Approx(0.1));
  check_values(global_avg_pool2d(Tensor::from_vector<double>({3, -1}, {1, 2, 1, 1})), {3, -1});
}

TEST_CASE("pooling ops reject misuse with the op's name and what was expected", "[pool][errors]") {
  using Catch::Contains;
  using Catch::StartsWith;
  Tensor x = Tensor::zeros({1, 2, 5, 5});
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros({2, 5, 5}), 2, 2),
                    StartsWith("max_pool2d:") && Contains("4-D") && Contains("[2, 5, 5]"));
  CHECK_THROWS_AS(max_pool2d(Tensor::zeros({2, 5, 5}), 2, 2), ShapeError);
  CHECK_THROWS_AS(avg_pool2d(Tensor::zeros({1, 2, 5, 5}, DType::i32), 2, 2), DTypeError);
  CHECK_THROWS_AS(max_pool2d(x, 0, 1), ValueError);
  CHECK_THROWS_WITH(avg_pool2d(x, 2, 0), StartsWith("avg_pool2d:") && Contains("stride"));
  CHECK_THROWS_WITH(max_pool2d(x, 3, 1, 2), StartsWith("max_pool2d:") && Contains("padding") && Contains("got 2"));
  CHECK_THROWS_AS(max_pool2d(x, 3, 1, -1), ValueError);
  CHECK_THROWS_AS(max_pool2d(x, 6, 1, 0), ShapeError);
  CHECK_THROWS_WITH(avg_pool2d(Tensor::zeros({1, 1, 2, 2}), 5, 1, 1),
                    StartsWith("avg_pool2d:") && Contains("kernel 5") && Contains("4x4"));
  CHECK_NOTHROW(max_pool2d(Tensor::zeros({1, 1, 2, 2}), 4, 1, 1));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(x, 0, 2), StartsWith("adaptive_avg_pool2d:") && Contains("0x2"));
  CHECK_THROWS_AS(adaptive_avg_pool2d(Tensor::zeros({1, 2, 0, 5}), 2, 2), ShapeError);
  CHECK_THROWS_AS(adaptive_avg_pool2d(Tensor::zeros({5, 5}), 2, 2), ShapeError);
  CHECK_THROWS_WITH(global_avg_pool2d(Tensor::zeros({2, 3})), StartsWith("global_avg_pool2d:") && Contains("[2, 3]"));
  CHECK_THROWS_AS(global_avg_pool2d(Tensor::zeros({2, 3, 2, 2}, DType::u8)), DTypeError);
}
