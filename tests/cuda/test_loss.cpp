#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "kernels/loss.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of the case table (tests/cases/loss.cpp) runs in tests/ops/test_op_parity.cpp.

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// A [rows, cols] CUDA view that starts one float into its storage (not 16-byte aligned).
Tensor misaligned(const Tensor& host) {
  Tensor storage = Tensor::zeros({1 + host.numel()}, DType::f32, Device::cuda());
  Tensor view = storage.narrow_rows(1, host.numel()).reshape(host.shape());
  view.copy_(host);
  return view;
}

}  // namespace

TEST_CASE("losses: a label out of range on CUDA is a ValueError at the next read; only its row is NaN",
          "[loss][cuda]") {
  // No host sync checks CUDA labels: the kernels must not read outside the
  // row, must poison only that row's loss and gradient, and must record the
  // label for the next read of the device, which throws once.
  Generator gen(11);
  Tensor logits = random::normal({4, 5}, 0.0, 1.0, gen);
  Tensor teacher = random::normal({4, 5}, 0.0, 1.0, gen);
  Tensor labels = Tensor::from_vector<int32_t>({1, 5, 0, -1000000}, {4});
  Tensor good_labels = Tensor::from_vector<int32_t>({1, 0, 0, 0}, {4});
  Tensor s = logits.to(Device::cuda()).requires_grad_();
  Tensor rows = distill_loss(s, labels.to(Device::cuda()), teacher.to(Device::cuda()), 0.3, 3.0, 0.1, Reduction::none);
  CHECK_THROWS_WITH(rows.to_vector<float>(),
                    Catch::StartsWith("softmax_loss (CUDA): label ") && Catch::Contains(" is outside [0, 5)"));
  std::vector<float> got = rows.to_vector<float>();  // reported once: this read succeeds
  std::vector<float> expected =
      distill_loss(logits, good_labels, teacher, 0.3, 3.0, 0.1, Reduction::none).to_vector<float>();
  CHECK(got[0] == Approx(expected[0]).epsilon(1e-5));
  CHECK(std::isnan(got[1]));
  CHECK(got[2] == Approx(expected[2]).epsilon(1e-5));
  CHECK(std::isnan(got[3]));

  rows.backward(Tensor::ones({4}, DType::f32, Device::cuda()));
  CHECK_THROWS_AS(s.grad().to_vector<float>(), ValueError);  // the backward kernel saw the labels too
  std::vector<float> grad = s.grad().to_vector<float>();
  for (int j = 0; j < 5; ++j) {
    CHECK(std::isfinite(grad[0 * 5 + j]));
    CHECK(std::isnan(grad[1 * 5 + j]));
    CHECK(std::isfinite(grad[2 * 5 + j]));
    CHECK(std::isnan(grad[3 * 5 + j]));
  }
  Tensor mean = cross_entropy(s, labels.to(Device::cuda()));
  CHECK_THROWS_WITH(mean.item<float>(), Catch::Contains("label 5 in row 1") || Catch::Contains("label -1000000 in row 3"));
  CHECK(std::isnan(mean.item<float>()));  // the mean inherits the NaN
  // And the CPU backend refuses the same labels at once.
  CHECK_THROWS_AS(cross_entropy(logits, labels), ValueError);
}

TEST_CASE("losses: CUDA reductions are deterministic", "[loss][cuda]") {
  Generator gen(12);
  Tensor s = random::normal({1000, 100}, 0.0, 2.0, gen, DType::f32, Device::cuda());
  Tensor t = random::normal({1000, 100}, 0.0, 2.0, gen, DType::f32, Device::cuda());
  Tensor labels = random::randint({1000}, 0, 100, gen, Device::cuda());
  CHECK(bitwise_equal(distill_loss(s, labels, t, 0.3, 3.0, 0.1), distill_loss(s, labels, t, 0.3, 3.0, 0.1)));
  Tensor a = random::normal({300007}, 0.0, 1.0, gen, DType::f32, Device::cuda());
  Tensor b = random::normal({300007}, 0.0, 1.0, gen, DType::f32, Device::cuda());
  CHECK(bitwise_equal(l2_distance(a, b), l2_distance(a, b)));
  CHECK(bitwise_equal(mse_loss(a, b, Reduction::sum), mse_loss(a, b, Reduction::sum)));
  CHECK(mse_loss(a, b).item<float>() ==
        Approx(mse_loss(a.to(Device::cpu()), b.to(Device::cpu())).item<float>()).epsilon(1e-5));
}

TEST_CASE("losses: CUDA handles inputs that are not 16-byte aligned", "[loss][cuda]") {
  Generator gen(13);
  Tensor s = random::normal({6, 8}, 0.0, 2.0, gen), t = random::normal({6, 8}, 0.0, 2.0, gen);
  Tensor labels = random::randint({6}, 0, 8, gen);
  Tensor s_gpu = misaligned(s).detach().requires_grad_(), t_gpu = misaligned(t);
  Tensor s_cpu = s.detach().requires_grad_();
  Tensor gpu = distill_loss(s_gpu, labels.to(Device::cuda()), t_gpu, 0.3, 3.0, 0.1, Reduction::sum);
  Tensor cpu = distill_loss(s_cpu, labels, t, 0.3, 3.0, 0.1, Reduction::sum);
  CHECK(testing::allclose(gpu, cpu, 1e-5, 1e-5));
  gpu.backward();
  cpu.backward();
  CHECK(testing::allclose(s_gpu.grad(), s_cpu.grad(), 1e-5, 1e-5));

  Tensor a = random::normal({4, 999}, 0.0, 1.0, gen), b = random::normal({4, 999}, 0.0, 1.0, gen);
  CHECK(testing::allclose(mse_loss(misaligned(a), misaligned(b), Reduction::sum), mse_loss(a, b, Reduction::sum), 1e-5,
                          1e-5));
  CHECK(testing::allclose(l2_distance(misaligned(a), misaligned(b)), l2_distance(a, b), 1e-5, 1e-5));
}

TEST_CASE("losses: CUDA gives finite values and gradients for logits of 1e4", "[loss][cuda]") {
  Tensor s = Tensor::from_vector<float>({1e4f, 0, -1e4f, -1e4f, 1e4f, 0}, {2, 3}, Device::cuda()).requires_grad_();
  Tensor t = Tensor::from_vector<float>({-1e4f, 0, 1e4f, -1e4f, 1e4f, 0}, {2, 3}, Device::cuda());
  Tensor labels = Tensor::from_vector<int32_t>({0, 2}, {2}, Device::cuda());
  std::vector<float> ce = cross_entropy(s, labels, Reduction::none).to_vector<float>();
  CHECK(ce[0] == Approx(0.0).margin(1e-6));
  CHECK(ce[1] == Approx(1e4).epsilon(1e-6));
  std::vector<float> kl = kl_div_with_temperature(s, t, 1.0, Reduction::none).to_vector<float>();
  CHECK(kl[0] == Approx(2e4).epsilon(1e-6));
  CHECK(kl[1] == Approx(0.0).margin(1e-6));
  Tensor loss = distill_loss(s, labels, t, 0.3, 3.0, 0.1);
  CHECK(std::isfinite(loss.item<float>()));
  loss.backward();
  for (float g : s.grad().to_vector<float>()) CHECK(std::isfinite(g));
  CHECK_FALSE(t.grad().defined());
}

TEST_CASE("losses: CUDA rejects f64 and mixed devices", "[loss][cuda]") {
  Tensor s = Tensor::zeros({2, 3}, DType::f32, Device::cuda());
  Tensor labels = Tensor::zeros({2}, DType::i32, Device::cuda());
  Tensor s64 = Tensor::zeros({2, 3}, DType::f64, Device::cuda());
  CHECK_THROWS_AS(cross_entropy(s64, labels), DTypeError);
  CHECK_THROWS_WITH(distill_loss(s64, labels, s64, 0.3, 3.0),
                    Catch::StartsWith("distill_loss: ") && Catch::Contains("f64"));
  CHECK_THROWS_WITH(l2_distance(s64, s64), Catch::StartsWith("l2_distance: ") && Catch::Contains("f32"));
  CHECK_THROWS_WITH(cross_entropy(s, Tensor::zeros({2}, DType::i32)),
                    Catch::StartsWith("cross_entropy: ") && Catch::Contains("devices"));
  CHECK_THROWS_AS(cross_entropy(s, Tensor::zeros({2}, DType::i32)), DeviceError);
  CHECK_THROWS_AS(kl_div_with_temperature(s, Tensor::zeros({2, 3}), 3.0), DeviceError);
  CHECK_THROWS_AS(mse_loss(s, Tensor::zeros({2, 3})), DeviceError);
}
