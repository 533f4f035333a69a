#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "core/philox.h"
#include "core/random.h"
#include "kernels/dropout.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/dropout.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

// The documented rule, recomputed straight from Philox.
bool expected_keep(uint64_t seed, uint64_t stream, int64_t i, double p) {
  philox::Uint4 bits = philox::random_bits(seed, stream, static_cast<uint64_t>(i / 4));
  uint32_t word[4] = {bits.x, bits.y, bits.z, bits.w};
  return (word[i % 4] >> 8) >= static_cast<uint32_t>(std::llround(p * 16777216.0));
}

double kept_fraction(const Tensor& y) {
  int64_t kept = 0;
  for (float v : y.to_vector<float>()) kept += v != 0.0f;
  return static_cast<double>(kept) / static_cast<double>(y.numel());
}

}  // namespace

TEST_CASE("dropout is the identity in eval mode and for p = 0", "[dropout]") {
  Tensor x = Tensor::from_vector<float>({1, -2, 3}, {3});
  Generator gen(1);
  CHECK(dropout(x, 0.5, false, gen).same(x));
  CHECK(dropout(x, 0.0, true, gen).same(x));
  CHECK(gen.offset() == 0);  // no random stream was used
}

TEST_CASE("dropout keeps about 1 - p of the elements and scales them by 1 / (1 - p)", "[dropout]") {
  const int64_t n = 100000;
  Tensor x = Tensor::ones({n});
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    Generator gen(42);
    Tensor y = dropout(x, p, true, gen);
    // The kept fraction is binomial: its standard deviation is below 0.0016 here.
    CHECK(kept_fraction(y) == Approx(1 - p).margin(0.01));
    float scale = static_cast<float>(1.0 / (1.0 - p));
    for (float v : y.to_vector<float>()) REQUIRE((v == 0.0f || v == scale));
  }
}

TEST_CASE("dropout's mask is Philox(seed, stream, i / 4), word i % 4", "[dropout]") {
  for (Shape shape : {Shape{1}, Shape{7}, Shape{2, 3, 7, 7}, Shape{1, 1}}) {
    Generator gen(99);
    gen.next_stream();  // the mask must use the stream the generator is at
    Tensor x = random::normal(shape, 0.0, 1.0, gen, DType::f64);
    uint64_t stream = gen.offset();
    Tensor y = dropout(x, 0.4, true, gen);
    CHECK(gen.offset() == stream + 1);
    std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double expected = expected_keep(99, stream, i, 0.4) ? xv[i] / 0.6 : 0.0;
      REQUIRE(yv[i] == Approx(expected).epsilon(1e-15));
    }
  }
}

TEST_CASE("the same (seed, stream) gives the same mask; the next call a new one", "[dropout]") {
  Tensor x = Tensor::ones({1000});
  Generator a(5), b(5);
  std::vector<float> first = dropout(x, 0.5, true, a).to_vector<float>();
  CHECK(dropout(x, 0.5, true, b).to_vector<float>() == first);
  CHECK(dropout(x, 0.5, true, a).to_vector<float>() != first);
  Generator other_seed(6);
  CHECK(dropout(x, 0.5, true, other_seed).to_vector<float>() != first);
}

TEST_CASE("dropout's backward uses the forward mask", "[dropout]") {
  Generator gen(3);
  Tensor x = (random::normal({3, 5, 7}, 0.0, 1.0, gen, DType::f64)).requires_grad_();
  Tensor y = dropout(x, 0.25, true, gen);
  y.backward(Tensor::ones({3, 5, 7}, DType::f64));
  std::vector<double> yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
  int64_t kept = 0;
  for (size_t i = 0; i < yv.size(); ++i) {
    REQUIRE(gv[i] == (yv[i] != 0.0 ? 1.0 / 0.75 : 0.0));
    kept += yv[i] != 0.0;
  }
  CHECK(kept > 0);
  CHECK(kept < static_cast<int64_t>(yv.size()));
}

TEST_CASE("dropout rejects bad arguments", "[dropout][errors]") {
  Tensor x = Tensor::ones({4});
  Generator gen(0);
  CHECK_THROWS_AS(dropout(x, 1.0, true, gen), ValueError);
  CHECK_THROWS_AS(dropout(x, -0.1, true, gen), ValueError);
  CHECK_THROWS_AS(dropout(x, std::numeric_limits<double>::quiet_NaN(), true, gen), ValueError);
  CHECK_THROWS_WITH(dropout(x, 1.5, false, gen), Catch::StartsWith("dropout:") && Catch::Contains("[0, 1)"));
  CHECK_THROWS_WITH(dropout(Tensor::ones({4}, DType::i32), 0.5, true, gen),
                    Catch::StartsWith("dropout:") && Catch::Contains("i32"));
  CHECK(gen.offset() == 0);
}
