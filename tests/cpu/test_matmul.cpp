#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "core/random.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/matmul.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

// Stored transpose of a 2-D tensor, built by hand.
Tensor transposed(const Tensor& t) {
  std::vector<double> v = t.to(DType::f64).to_vector<double>(), out(v.size());
  int64_t rows = t.size(0), cols = t.size(1);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = v[i * cols + j];
  return Tensor::from_vector<double>(out, {cols, rows}).to(t.dtype());
}

// Textbook triple loop over op(a) @ op(b) for one 2-D pair, in double.
std::vector<double> naive_product(const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t n,
                                  int64_t k, bool trans_a, bool trans_b) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += (trans_a ? a[p * m + i] : a[i * k + p]) * (trans_b ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = sum;
    }
  return c;
}

}  // namespace

TEST_CASE("matmul computes closed-form products for every transpose combination", "[matmul]") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  const std::vector<float> expected{58, 64, 139, 154};
  CHECK(matmul(a, b).to_vector<float>() == expected);
  CHECK(matmul(transposed(a), b, true, false).to_vector<float>() == expected);
  CHECK(matmul(a, transposed(b), false, true).to_vector<float>() == expected);
  CHECK(matmul(transposed(a), transposed(b), true, true).to_vector<float>() == expected);
  CHECK(matmul(a, b).shape() == Shape{2, 2});
}

TEST_CASE("matmul handles degenerate shapes", "[matmul]") {
  SECTION("1x1") {
    CHECK(matmul(Tensor::full({1, 1}, 3.0), Tensor::full({1, 1}, -4.0)).to_vector<float>() == std::vector<float>{-12});
  }
  SECTION("k = 1 is an outer product") {
    Tensor col = Tensor::from_vector<float>({1, 2, 3}, {3, 1});
    Tensor row = Tensor::from_vector<float>({10, 20}, {1, 2});
    CHECK(matmul(col, row).to_vector<float>() == std::vector<float>{10, 20, 20, 40, 30, 60});
  }
  SECTION("1 x k times k x 1 is a dot product") {
    Tensor row = Tensor::from_vector<double>({1, 2, 3, 4}, {1, 4});
    Tensor out = matmul(row, row, false, true);
    CHECK(out.shape() == Shape{1, 1});
    CHECK(out.item<double>() == 30.0);
  }
  SECTION("k = 0 gives zeros") {
    Tensor out = matmul(Tensor::zeros({2, 0}), Tensor::zeros({0, 3}));
    CHECK(out.to_vector<float>() == std::vector<float>(6, 0.f));
  }
}

TEST_CASE("batched matmul multiplies each pair on its own", "[matmul]") {
  // Batch 0: a general product; batch 1: a times the identity.
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor b = Tensor::from_vector<float>({1, 1, 0, 2, 1, 0, 0, 1}, {2, 2, 2});
  CHECK(matmul(a, b).to_vector<float>() == std::vector<float>{1, 5, 3, 11, 5, 6, 7, 8});
  CHECK(matmul(a, b, true, false).to_vector<float>() == std::vector<float>{1, 7, 2, 10, 5, 7, 6, 8});
  CHECK(matmul(a, b).shape() == Shape{2, 2, 2});
}

TEST_CASE("matmul matches a triple loop on shapes that cross tile edges", "[matmul]") {
  struct Size {
    int64_t batch, m, n, k;
  };
  Generator gen(7);
  for (Size s : {Size{1, 33, 65, 17}, Size{1, 130, 129, 7}, Size{3, 9, 1, 13}, Size{1, 1, 70, 5}}) {
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true}) {
        Shape a_shape = trans_a ? Shape{s.batch, s.k, s.m} : Shape{s.batch, s.m, s.k};
        Shape b_shape = trans_b ? Shape{s.batch, s.n, s.k} : Shape{s.batch, s.k, s.n};
        Tensor a = random::normal(a_shape, 0, 1, gen, DType::f64);
        Tensor b = random::normal(b_shape, 0, 1, gen, DType::f64);
        std::vector<double> got = matmul(a, b, trans_a, trans_b).to_vector<double>();
        std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
        INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " batch=" << s.batch << " trans " << trans_a << trans_b);
        double worst = 0;
        for (int64_t i = 0; i < s.batch; ++i) {
          std::vector<double> ai(av.begin() + i * s.m * s.k, av.begin() + (i + 1) * s.m * s.k);
          std::vector<double> bi(bv.begin() + i * s.k * s.n, bv.begin() + (i + 1) * s.k * s.n);
          std::vector<double> want = naive_product(ai, bi, s.m, s.n, s.k, trans_a, trans_b);
          for (int64_t j = 0; j < s.m * s.n; ++j) worst = std::max(worst, std::abs(got[i * s.m * s.n + j] - want[j]));
        }
        CHECK(worst < 1e-12);
      }
  }
}

TEST_CASE("matmul backward gives closed-form gradients", "[matmul]") {
  Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = Tensor::from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2}).requires_grad_();
  matmul(a, b).backward(Tensor::ones({2, 2}, DType::f64));
  // dA = 1 @ B^T: every row holds B's row sums; dB = A^T @ 1: every column holds A's column sums.
  CHECK(a.grad().to_vector<double>() == std::vector<double>{15, 19, 23, 15, 19, 23});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{5, 5, 7, 7, 9, 9});
}

TEST_CASE("matmul computes gradients only for inputs that require them", "[matmul]") {
  Tensor a = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector<double>({1, 0, 0, 1}, {2, 2}).requires_grad_();
  matmul(a, b).backward(Tensor::ones({2, 2}, DType::f64));
  CHECK_FALSE(a.grad().defined());
  CHECK(b.grad().to_vector<double>() == std::vector<double>{4, 4, 6, 6});
}

TEST_CASE("linear computes x W^T + b and its gradients", "[matmul][linear]") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, -1, 0, 2}, {2, 3}).requires_grad_();
  Tensor w = Tensor::from_vector<double>({1, 0, -1, 2, 1, 0}, {2, 3}).requires_grad_();
  Tensor b = Tensor::from_vector<double>({0.5, -2}, {2}).requires_grad_();
  Tensor y = linear(x, w, b);
  CHECK(y.shape() == Shape{2, 2});
  CHECK(y.to_vector<double>() == std::vector<double>{-1.5, 2, -2.5, -4});
  CHECK(linear(x, w).to_vector<double>() == std::vector<double>{-2, 4, -3, -2});

  Tensor g = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
  y.backward(g);
  // dx = G W, dW = G^T x, db = column sums of G.
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 2, -1, 11, 4, -3});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{-2, 2, 9, -2, 4, 14});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{4, 6});

  // A second pass accumulates into the leaves.
  linear(x, w, b).backward(g);
  CHECK(b.grad().to_vector<double>() == std::vector<double>{8, 12});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{-4, 4, 18, -4, 8, 28});
}

TEST_CASE("linear handles a batch of one and zero input features", "[matmul][linear]") {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2});
  Tensor w = Tensor::from_vector<float>({1, 1, 1, -1, 0, 5}, {3, 2});
  CHECK(linear(x, w, Tensor::from_vector<float>({1, 2, 3}, {3})).to_vector<float>() == std::vector<float>{6, 1, 18});
  // in = 0: the product is empty and only the bias remains.
  Tensor out = linear(Tensor::zeros({2, 0}), Tensor::zeros({3, 0}), Tensor::from_vector<float>({1, 2, 3}, {3}));
  CHECK(out.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("cpu gemm honours alpha, beta, strides and never reads C when beta is 0", "[matmul][gemm]") {
  std::vector<float> a{1, 2, 3, 4};   // [2, 2]
  std::vector<float> b{1, -1, 2, 0};  // [2, 2]
  GemmShape s;
  s.m = s.n = s.k = 2;
  std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());
  gemm<float>(Device::cpu(), s, 1.f, a.data(), b.data(), 0.f, c.data());
  CHECK(c == std::vector<float>{5, -1, 11, -3});

  std::vector<float> acc{1, 1, 1, 1};
  gemm<float>(Device::cpu(), s, 2.f, a.data(), b.data(), 0.5f, acc.data());
  CHECK(acc == std::vector<float>{10.5f, -1.5f, 22.5f, -5.5f});

  // Batch of two sharing B (stride 0); trans_a reads A stored [k, m].
  std::vector<float> a2{1, 2, 3, 4, 0, 1, 1, 0};
  std::vector<float> c2(8, 0.f);
  GemmShape bs = s;
  bs.trans_a = true;
  bs.batch = 2, bs.stride_a = 4, bs.stride_b = 0, bs.stride_c = 4;
  gemm<float>(Device::cpu(), bs, 1.f, a2.data(), b.data(), 0.f, c2.data());
  CHECK(c2 == std::vector<float>{7, -1, 10, -2, 2, 0, 1, -1});

  // k = 0: C = beta * C.
  GemmShape empty = s;
  empty.k = 0;
  std::vector<float> keep{1, 2, 3, 4};
  gemm<float>(Device::cpu(), empty, 1.f, a.data(), b.data(), 3.f, keep.data());
  CHECK(keep == std::vector<float>{3, 6, 9, 12});
}

TEST_CASE("matmul rejects bad arguments with readable errors", "[matmul][errors]") {
  Tensor m23 = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(matmul(Tensor::zeros({3}), m23),
                    Catch::StartsWith("matmul: a must be 2-D [m, k] or 3-D [batch, m, k], got shape [3]"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({1, 1, 1, 1}), m23, true, false),
                    Catch::StartsWith("matmul: a must be 2-D [k, m] or 3-D [batch, k, m], got shape [1, 1, 1, 1]"));
  CHECK_THROWS_WITH(matmul(m23, Tensor::zeros({1, 3, 2})),
                    Catch::StartsWith("matmul: b must have the rank of a (2-D), got shape [1, 3, 2]"));
  CHECK_THROWS_AS(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 4})), ShapeError);
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 4})),
                    Catch::StartsWith("matmul: batch sizes differ: a [2, 2, 3], b [3, 3, 4]"));
  CHECK_THROWS_AS(matmul(m23, m23), ShapeError);
  CHECK_THROWS_WITH(matmul(m23, m23), Catch::StartsWith("matmul: inner dimensions differ: a = [2, 3], b = [2, 3]"));
  CHECK_THROWS_WITH(matmul(m23, Tensor::zeros({4, 2}), false, true),
                    Catch::StartsWith("matmul: inner dimensions differ: a = [2, 3], op(b) = [2, 4]"));
  CHECK_NOTHROW(matmul(m23, m23, true, false));
  CHECK_NOTHROW(matmul(m23, m23, false, true));

  CHECK_THROWS_AS(matmul(m23, Tensor::zeros({3, 2}, DType::f64)), DTypeError);
  CHECK_THROWS_WITH(matmul(m23, Tensor::zeros({3, 2}, DType::f64)),
                    Catch::StartsWith("matmul: dtypes differ: f32 and f64"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3}, DType::i32), Tensor::zeros({3, 2}, DType::i32)),
                    Catch::StartsWith("matmul: a must be f32 or f64, got i32"));
  CHECK_THROWS_AS(matmul(Tensor(), m23), ValueError);
}

TEST_CASE("linear rejects bad arguments with readable errors", "[linear][errors]") {
  Tensor x = Tensor::zeros({4, 3}), w = Tensor::zeros({5, 3}), b = Tensor::zeros({5});
  CHECK_NOTHROW(linear(x, w, b));
  CHECK_THROWS_WITH(linear(Tensor::zeros({4, 3, 1}), w),
                    Catch::StartsWith("linear: x must be 2-D [N, in], got shape [4, 3, 1]"));
  CHECK_THROWS_WITH(linear(x, Tensor::zeros({3})),
                    Catch::StartsWith("linear: weight must be 2-D [out, in], got shape [3]"));
  CHECK_THROWS_AS(linear(x, Tensor::zeros({5, 4})), ShapeError);
  CHECK_THROWS_WITH(
      linear(x, Tensor::zeros({5, 4})),
      Catch::StartsWith("linear: x has 3 features (shape [4, 3]) but weight [out, in] = [5, 4] expects 4"));
  CHECK_THROWS_WITH(linear(x, w, Tensor::zeros({3})),
                    Catch::StartsWith("linear: bias must be 1-D [out] = [5], got shape [3]"));
  CHECK_THROWS_AS(linear(x, w, Tensor::zeros({5, 1})), ShapeError);
  CHECK_THROWS_WITH(linear(x, w, Tensor::zeros({5}, DType::f64)),
                    Catch::StartsWith("linear: dtypes differ: f32 and f64"));
  CHECK_THROWS_AS(linear(x, Tensor::zeros({5, 3}, DType::f64)), DTypeError);
}

TEST_CASE("gemm rejects negative sizes", "[gemm][errors]") {
  GemmShape s;
  s.m = -1, s.n = 2, s.k = 2;
  float buffer[4] = {};
  CHECK_THROWS_WITH(gemm<float>(Device::cpu(), s, 1.f, buffer, buffer, 0.f, buffer),
                    Catch::StartsWith("gemm: expected non-negative sizes, got m=-1 n=2 k=2 batch=1"));
}
