#include <catch2/catch.hpp>
#include <cstring>

#include "core/random.h"
#include "kernels/dropout.h"

using namespace engram;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

// The parity of the case table (tests/cases/dropout.cpp) runs in tests/ops/test_op_parity.cpp.

TEST_CASE("CPU and CUDA drop exactly the same elements, bit for bit", "[dropout][cuda]") {
  for (Shape shape : {Shape{1000, 1001}, Shape{1}, Shape{6}, Shape{2, 3, 7, 7}, Shape{1 << 20}}) {
    for (double p : {0.1, 0.5, 0.9}) {
      Generator data(1);
      Tensor x = random::normal(shape, 0.0, 1.0, data);
      Generator a(77), b(77);
      Tensor y_cpu = dropout(x, p, true, a);
      Tensor y_gpu = dropout(x.to(Device::cuda()), p, true, b);
      INFO("shape " << shape_str(shape) << " p " << p);
      CHECK(y_gpu.device().is_cuda());
      CHECK(bitwise_equal(y_gpu, y_cpu));
      CHECK(a.offset() == b.offset());
    }
  }
}

TEST_CASE("CUDA dropout of an unaligned view matches the CPU", "[dropout][cuda]") {
  Generator data(2);
  Tensor base = random::normal({5, 1001}, 0.0, 1.0, data);
  Generator a(8), b(8);
  Tensor y_cpu = dropout(base.narrow_rows(1, 3), 0.3, true, a);
  Tensor y_gpu = dropout(base.to(Device::cuda()).narrow_rows(1, 3), 0.3, true, b);
  CHECK(bitwise_equal(y_gpu, y_cpu));
}

TEST_CASE("CUDA dropout's backward reuses the forward mask", "[dropout][cuda]") {
  Generator data(3);
  Tensor x = random::normal({257, 129}, 0.0, 1.0, data, DType::f32, Device::cuda()).requires_grad_();
  Generator gen(4);
  Tensor y = dropout(x, 0.25, true, gen);
  y.backward(Tensor::ones({257, 129}, DType::f32, Device::cuda()));
  std::vector<float> yv = y.to_vector<float>(), gv = x.grad().to_vector<float>();
  float scale = static_cast<float>(1.0 / 0.75);
  for (size_t i = 0; i < yv.size(); ++i) REQUIRE(gv[i] == (yv[i] != 0.0f ? scale : 0.0f));
}

TEST_CASE("CUDA dropout rejects f64", "[dropout][cuda][errors]") {
  Generator gen(0);
  CHECK_THROWS_WITH(dropout(Tensor::ones({4}, DType::f64, Device::cuda()), 0.5, true, gen),
                    Catch::StartsWith("dropout:") && Catch::Contains("f32"));
}
