#include <catch2/catch.hpp>

#include "kernels/pool.h"

using namespace engram;

// The parity of the case table (tests/cases/pool.cpp) runs in tests/ops/test_op_parity.cpp.

TEST_CASE("pooling on CUDA handles ties and padding like the CPU", "[pool][cuda]") {
  // The same hand-checked plane as the CPU test: first maximum wins, -inf padding.
  Tensor x = Tensor::from_vector<float>({1, 2, 2, 0, 3, 3, 1, 1, 0, 1, 4, 4, 2, 2, 4, 0}, {1, 1, 4, 4})
                 .to(Device::cuda())
                 .requires_grad_();
  Tensor y = max_pool2d(x, 3, 2, 1);
  CHECK(y.to_vector<float>() == std::vector<float>{3, 3, 3, 4});
  y.backward(Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2}).to(Device::cuda()));
  std::vector<float> expected(16, 0.0f);
  expected[4] = 4, expected[5] = 2, expected[10] = 4;
  CHECK(x.grad().to_vector<float>() == expected);
  Tensor negative = Tensor::from_vector<float>({-1, -2, -3, -4}, {1, 1, 2, 2}).to(Device::cuda());
  CHECK(max_pool2d(negative, 2, 1, 1).to_vector<float>() == std::vector<float>{-1, -1, -2, -1, -1, -2, -3, -3, -4});
}

TEST_CASE("pooling on CUDA rejects f64", "[pool][cuda][errors]") {
  Tensor x = Tensor::zeros({1, 2, 4, 4}, DType::f64, Device::cuda());
  CHECK_THROWS_AS(max_pool2d(x, 2, 2), DTypeError);
  CHECK_THROWS_AS(avg_pool2d(x, 2, 2), DTypeError);
  CHECK_THROWS_AS(adaptive_avg_pool2d(x, 2, 2), DTypeError);
  CHECK_THROWS_WITH(global_avg_pool2d(x), Catch::StartsWith("global_avg_pool2d:"));
}
