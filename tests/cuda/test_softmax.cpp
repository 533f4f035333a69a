#include <catch2/catch.hpp>

#include "kernels/softmax.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of the case table (tests/cases/softmax.cpp) runs in tests/ops/test_op_parity.cpp.

TEST_CASE("softmax: CUDA handles rows that are not 16-byte aligned", "[softmax][cuda]") {
  // A view starting one float into its storage: C = 8 would allow float4 rows,
  // the misaligned base pointer must send the kernels down the scalar path.
  Generator gen(3);
  Tensor storage = random::normal({1 + 6 * 8}, 0.0, 2.0, gen).to(Device::cuda());
  Tensor x = storage.narrow_rows(1, 6 * 8).reshape({6, 8});
  Tensor expected = softmax(x.to(Device::cpu()));
  CHECK(testing::allclose(softmax(x), expected, 1e-6, 1e-5));
  CHECK(testing::allclose(log_softmax(x), log_softmax(x.to(Device::cpu())), 1e-6, 1e-5));
}

TEST_CASE("softmax: CUDA rejects f64 and stays finite for logits of 1e4", "[softmax][cuda]") {
  CHECK_THROWS_AS(softmax(Tensor::zeros({2, 3}, DType::f64, Device::cuda())), DTypeError);
  Tensor x = Tensor::from_vector<float>({1e4f, 0, -1e4f}, {1, 3}, Device::cuda());
  CHECK(softmax(x).to_vector<float>() == std::vector<float>{1, 0, 0});
  CHECK(log_softmax(x).to_vector<float>() == std::vector<float>{0, -1e4f, -2e4f});
}
