#include <catch2/catch.hpp>

#include "core/random.h"
#include "kernels/shape_ops.h"

using namespace engram;

namespace {

std::vector<Tensor> to_gpu(const std::vector<Tensor>& pieces) {
  std::vector<Tensor> out;
  for (const Tensor& t : pieces) out.push_back(t.to(Device::cuda()));
  return out;
}

template <typename T>
void check_same_concat(const std::vector<Tensor>& pieces, int64_t dim) {
  Tensor expected = concat(pieces, dim);
  Tensor actual = concat(to_gpu(pieces), dim);
  CHECK(actual.device().is_cuda());
  CHECK(actual.shape() == expected.shape());
  CHECK(actual.to_vector<T>() == expected.to_vector<T>());
}

}  // namespace

// The parity of the case table (tests/cases/shape_ops.cpp) runs in tests/ops/test_op_parity.cpp.

TEST_CASE("CUDA concat copies every dtype and word size exactly", "[shape_ops][cuda]") {
  Generator gen(9);
  auto bytes = [&](Shape s) { return random::randint(s, 0, 256, gen).to(DType::u8); };
  auto ints = [&](Shape s) { return random::randint(s, -1000, 1000, gen); };
  auto doubles = [&](Shape s) { return random::normal(s, 0.0, 1.0, gen, DType::f64); };
  check_same_concat<uint8_t>({bytes({3, 5}), bytes({3, 2}), bytes({3, 1})}, 1);  // 1-byte words
  check_same_concat<uint8_t>({bytes({4, 2}), bytes({4, 6})}, 1);                 // 2-byte words
  check_same_concat<uint8_t>({bytes({7, 16}), bytes({7, 32})}, 1);               // 16-byte words
  check_same_concat<uint8_t>({bytes({2, 3, 7, 7}), bytes({2, 1, 7, 7})}, 1);
  check_same_concat<int32_t>({ints({5, 3}), ints({5, 4}), ints({5, 1})}, 1);
  check_same_concat<int32_t>({ints({1}), ints({1000}), ints({0})}, 0);
  check_same_concat<double>({doubles({2, 3, 5}), doubles({2, 3, 2})}, -1);
  check_same_concat<double>({doubles({3, 2}), doubles({1, 2})}, 0);
}

TEST_CASE("CUDA concat of unaligned views matches the CPU", "[shape_ops][cuda]") {
  Generator gen(10);
  Tensor base = random::normal({5, 3}, 0.0, 1.0, gen);
  Tensor other = random::normal({4, 3}, 0.0, 1.0, gen);
  Tensor gpu_base = base.to(Device::cuda());
  Tensor expected = concat({base.narrow_rows(1, 4), other}, 1);
  Tensor actual = concat({gpu_base.narrow_rows(1, 4), other.to(Device::cuda())}, 1);
  CHECK(actual.to_vector<float>() == expected.to_vector<float>());
  Tensor rows = concat({gpu_base.narrow_rows(1, 2), gpu_base.narrow_rows(4, 1)}, 0);
  CHECK(rows.to_vector<float>() == concat({base.narrow_rows(1, 2), base.narrow_rows(4, 1)}, 0).to_vector<float>());
}

TEST_CASE("CUDA concat rejects pieces on different devices", "[shape_ops][cuda][errors]") {
  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(concat({a.to(Device::cuda()), a}, 0),
                    Catch::StartsWith("concat:") && Catch::Contains("cpu") && Catch::Contains("cuda"));
}
