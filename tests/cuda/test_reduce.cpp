#include <catch2/catch.hpp>
#include <cstring>
#include <limits>

#include "kernels/reduce.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of the case table (tests/cases/reduce.cpp) runs in tests/ops/test_op_parity.cpp.

namespace {

// Both tensors hold the same f32 bits.
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("CUDA sums of integers are exact and repeat bit for bit", "[reduce][cuda]") {
  Device gpu = Device::cuda();
  CHECK(sum(Tensor::ones({1000003}, DType::f32, gpu)).item<float>() == 1000003.0f);
  CHECK(sum(Tensor::ones({1000, 1000}, DType::f32, gpu)).item<float>() == 1000000.0f);
  CHECK(sum(Tensor::ones({3, 70001}, DType::f32, gpu), 1).to_vector<float>() ==
        std::vector<float>{70001, 70001, 70001});
  CHECK(sum(Tensor::ones({5000, 3}, DType::f32, gpu), 0).to_vector<float>() == std::vector<float>{5000, 5000, 5000});
  CHECK(mean(Tensor::full({777, 3}, 2.0, DType::f32, gpu)).item<float>() == Approx(2.0f).epsilon(1e-6));
  CHECK(sum(Tensor::zeros({0, 3}, DType::f32, gpu)).item<float>() == 0.0f);
  CHECK(sum(Tensor::zeros({0, 3}, DType::f32, gpu), 0).to_vector<float>() == std::vector<float>{0, 0, 0});

  Generator gen(5);
  Tensor x = random::normal({2000, 1003}, 0.0, 1.0, gen, DType::f32, gpu);
  CHECK(bitwise_equal(sum(x), sum(x)));
  CHECK(bitwise_equal(sum(x, 0), sum(x, 0)));
  CHECK(bitwise_equal(mean(x, 1), mean(x, 1)));
}

TEST_CASE("CUDA reductions of unaligned views match the CPU", "[reduce][cuda]") {
  Generator gen(6);
  Tensor base = random::normal({9, 1001}, 0.0, 1.0, gen);
  Tensor cpu_view = base.narrow_rows(1, 8);  // starts 1001 floats in: not 16-byte aligned
  Tensor gpu_view = base.to(Device::cuda()).narrow_rows(1, 8);
  CHECK(testing::allclose(sum(gpu_view), sum(cpu_view), 1e-4, 1e-4));
  Tensor flat_cpu = cpu_view.reshape({8008}), flat_gpu = gpu_view.reshape({8008});
  CHECK(testing::allclose(sum(flat_gpu, 0), sum(flat_cpu, 0), 1e-4, 1e-4));
  CHECK(testing::allclose(mean(gpu_view, 1), mean(cpu_view, 1), 1e-5, 1e-5));
  CHECK(max(gpu_view, 0).to_vector<float>() == max(cpu_view, 0).to_vector<float>());
  CHECK(argmax(gpu_view, 1).to_vector<int32_t>() == argmax(cpu_view, 1).to_vector<int32_t>());
}

TEST_CASE("CUDA max and argmax treat NaN and -inf like the CPU", "[reduce][cuda]") {
  float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  struct Along {
    Shape shape;
    int64_t dim;
  };
  // The rows, long-rows and columns kernels.
  for (Along a : {Along{{4, 100}, 1}, Along{{4, 5000}, 1}, Along{{100, 4}, 0}, Along{{3, 40, 37}, 1}}) {
    Generator gen(7);
    Tensor x = random::normal(a.shape, 0.0, 1.0, gen);
    float* p = x.data<float>();
    int64_t n = x.numel();
    for (int64_t i = 0; i < n; i += 37) p[i] = nan;
    for (int64_t i = 5; i < n; i += 11) p[i] = -inf;
    for (int64_t i = 3; i < n; i += 53) p[i] = inf;
    INFO("shape " << shape_str(a.shape) << " dim " << a.dim);
    CHECK(argmax(x.to(Device::cuda()), a.dim).to_vector<int32_t>() == argmax(x, a.dim).to_vector<int32_t>());
    Tensor all_minus_inf = Tensor::full(a.shape, -inf);
    CHECK(argmax(all_minus_inf.to(Device::cuda()), a.dim).to_vector<int32_t>() ==
          argmax(all_minus_inf, a.dim).to_vector<int32_t>());
  }
}

TEST_CASE("count_correct on CUDA stays on the device", "[reduce][cuda]") {
  Device gpu = Device::cuda();
  Tensor logits = Tensor::from_vector<float>({0.1f, 0.9f, 0.8f, 0.2f, 0.5f, 0.5f, 0.3f, 0.7f, 0.5f, 0.5f}, {5, 2}, gpu);
  Tensor labels = Tensor::from_vector<int32_t>({1, 1, 0, 1, 1}, {5}, gpu);
  Tensor count = count_correct(logits, labels);
  CHECK(count.device().is_cuda());
  CHECK(count.dtype() == DType::i32);
  CHECK(count.shape() == Shape{});
  CHECK(count.item<int32_t>() == 3);
  CHECK_THROWS_AS(count_correct(logits, labels.to(Device::cpu())), DeviceError);
  CHECK_THROWS_WITH(count_correct(logits.to(DType::f64), labels),
                    Catch::StartsWith("count_correct:") && Catch::Contains("f32"));
}
