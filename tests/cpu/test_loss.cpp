#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "tests/support/checks.h"

using namespace engram;

// The f64 gradient check of the case table (tests/cases/loss.cpp) runs in
// tests/ops/test_op_gradcheck.cpp; this program keeps the closed-form and error tests.

namespace {

const double ln2 = std::log(2.0), ln3 = std::log(3.0), ln4 = std::log(4.0), ln5 = std::log(5.0), ln8 = std::log(8.0);

// Student rows with p0 = [1/8, 3/8, 1/2] and p1 = [1/8, 1/4, 5/8], times `scale`
// (so that softmax(s / T) has these probabilities when scale = T).
Tensor student_2x3(DType dtype, double scale = 1.0) {
  return Tensor::from_vector<double>({0, scale * ln3, scale * ln4, 0, scale * ln2, scale * ln5}, {2, 3}).to(dtype);
}
// Teacher rows with q0 = [1/3, 1/3, 1/3] and q1 = [1/2, 1/4, 1/4], times `scale`.
Tensor teacher_2x3(DType dtype, double scale = 1.0) {
  return Tensor::from_vector<double>({0, 0, 0, scale * ln2, 0, 0}, {2, 3}).to(dtype);
}
Tensor labels_2x3() { return Tensor::from_vector<int32_t>({1, 0}, {2}); }

// KL(q || p) of the two rows above, by hand.
const double kl_row0 = (std::log(8.0 / 3) + std::log(8.0 / 9) + std::log(2.0 / 3)) / 3;
const double kl_row1 = 0.5 * ln4 + 0.25 * std::log(2.0 / 5);

double value(const Tensor& t) { return t.to(DType::f64).item<double>(); }
std::vector<double> values(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

void check_values(const std::vector<double>& actual, const std::vector<double>& expected, double tol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i);
    CHECK(actual[i] == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}

}  // namespace

TEST_CASE("cross_entropy of uniform logits is log C", "[loss]") {
  for (int64_t classes : {1, 2, 10, 1000}) {
    Generator gen(classes);
    Tensor labels = random::randint({4}, 0, static_cast<int32_t>(classes), gen);
    for (double smoothing : {0.0, 0.2}) {
      INFO("C = " << classes << ", smoothing " << smoothing);
      Tensor logits = Tensor::full({4, classes}, 0.7, DType::f32);
      CHECK(value(cross_entropy(logits, labels, Reduction::mean, smoothing)) ==
            Approx(std::log(double(classes))).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("cross_entropy matches a hand-computed 2x3 example", "[loss]") {
  const double ce0 = std::log(8.0 / 3), ce1 = ln8;
  // Label smoothing 0.1: 0.9 * nll + 0.1 * mean_j(-log p_j).
  const double smooth0 = 0.9 * ce0 + 0.1 * (ln8 + std::log(8.0 / 3) + ln2) / 3;
  const double smooth1 = 0.9 * ce1 + 0.1 * (ln8 + ln4 + std::log(8.0 / 5)) / 3;
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-13;
    Tensor s = student_2x3(dtype);
    check_values(values(cross_entropy(s, labels_2x3(), Reduction::none)), {ce0, ce1}, tol);
    CHECK(value(cross_entropy(s, labels_2x3())) == Approx((ce0 + ce1) / 2).epsilon(tol));
    CHECK(value(cross_entropy(s, labels_2x3(), Reduction::sum)) == Approx(ce0 + ce1).epsilon(tol));
    check_values(values(cross_entropy(s, labels_2x3(), Reduction::none, 0.1)), {smooth0, smooth1}, tol);
    CHECK(value(cross_entropy(s, labels_2x3(), Reduction::mean, 0.1)) == Approx((smooth0 + smooth1) / 2).epsilon(tol));
  }
}

TEST_CASE("cross_entropy gradient is (p - onehot) / N, smoothed targets included", "[loss]") {
  Tensor s = student_2x3(DType::f64).requires_grad_();
  cross_entropy(s, labels_2x3()).backward();
  check_values(values(s.grad()), {1.0 / 16, (3.0 / 8 - 1) / 2, 0.25, (1.0 / 8 - 1) / 2, 1.0 / 8, 5.0 / 16}, 1e-14);

  // Smoothing eps: target = (1 - eps) onehot + eps / C; sum reduction keeps the scale 1.
  Tensor t = student_2x3(DType::f64).requires_grad_();
  cross_entropy(t, labels_2x3(), Reduction::sum, 0.3).backward();
  const double off = 0.1, on = 0.7 + 0.1;
  check_values(values(t.grad()), {1.0 / 8 - off, 3.0 / 8 - on, 0.5 - off, 1.0 / 8 - on, 0.25 - off, 5.0 / 8 - off},
               1e-14);
}

TEST_CASE("cross_entropy with one class is 0, with two classes log(1 + e^-margin)", "[loss]") {
  Tensor one = Tensor::from_vector<double>({3.5}, {1, 1}).requires_grad_();
  CHECK(value(cross_entropy(one, Tensor::from_vector<int32_t>({0}, {1}))) == 0.0);
  cross_entropy(one, Tensor::from_vector<int32_t>({0}, {1})).backward();
  CHECK(values(one.grad()) == std::vector<double>{0.0});

  Tensor two = Tensor::from_vector<double>({0, ln3}, {1, 2});  // p = [1/4, 3/4]
  CHECK(value(cross_entropy(two, Tensor::from_vector<int32_t>({1}, {1}))) == Approx(std::log(4.0 / 3)));
  CHECK(value(cross_entropy(two, Tensor::from_vector<int32_t>({0}, {1}))) == Approx(ln4));
}

TEST_CASE("losses stay finite for logits of 1e4", "[loss]") {
  Tensor s = Tensor::from_vector<float>({1e4f, 0, -1e4f, -1e4f, 1e4f, 0}, {2, 3}).requires_grad_();
  Tensor t = Tensor::from_vector<float>({-1e4f, 0, 1e4f, -1e4f, 1e4f, 0}, {2, 3});
  Tensor labels = Tensor::from_vector<int32_t>({0, 2}, {2});
  check_values(values(cross_entropy(s, labels, Reduction::none)), {0.0, 1e4}, 1e-6);
  // Smoothing 0.1 adds 0.1 * mean_j(-log p_j) = 0.1 * (0 + 1e4 + 2e4) / 3 to row 0.
  check_values(values(cross_entropy(s, labels, Reduction::none, 0.1)), {1e3, 0.9e4 + 1e3}, 1e-6);
  // Row 0: q = [0, 0, 1], log r_2 = -2e4, so KL = 2e4; row 1: identical rows, KL = 0.
  check_values(values(kl_div_with_temperature(s, t, 1.0, Reduction::none)), {2e4, 0.0}, 1e-6);
  Tensor loss = distill_loss(s, labels, t, 0.3, 3.0, 0.1, Reduction::mean);
  CHECK(std::isfinite(value(loss)));
  loss.backward();
  for (double g : values(s.grad())) CHECK(std::isfinite(g));
}

TEST_CASE("kl_div_with_temperature matches hand-computed values for T = 1 and T = 3", "[loss]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 2e-6 : 1e-13;
    check_values(values(kl_div_with_temperature(student_2x3(dtype), teacher_2x3(dtype), 1.0, Reduction::none)),
                 {kl_row0, kl_row1}, tol);
    // Logits scaled by T give the same softmaxes at temperature T; the loss is T^2 KL.
    Tensor s3 = student_2x3(dtype, 3.0), t3 = teacher_2x3(dtype, 3.0);
    check_values(values(kl_div_with_temperature(s3, t3, 3.0, Reduction::none)), {9 * kl_row0, 9 * kl_row1}, tol);
    CHECK(value(kl_div_with_temperature(s3, t3, 3.0)) == Approx(9 * (kl_row0 + kl_row1) / 2).epsilon(tol));
    CHECK(value(kl_div_with_temperature(s3, t3, 3.0, Reduction::sum)) == Approx(9 * (kl_row0 + kl_row1)).epsilon(tol));
  }
  Tensor same = student_2x3(DType::f64);
  CHECK(value(kl_div_with_temperature(same, same, 2.0)) == Approx(0.0).margin(1e-15));
}

TEST_CASE("kl_div_with_temperature gradient is T (r - q) / N and reaches the teacher only on request", "[loss]") {
  Tensor s = student_2x3(DType::f64, 3.0).requires_grad_();
  Tensor frozen = teacher_2x3(DType::f64, 3.0);
  kl_div_with_temperature(s, frozen, 3.0).backward();
  const double third = 1.0 / 3;
  check_values(values(s.grad()),
               {1.5 * (1.0 / 8 - third), 1.5 * (3.0 / 8 - third), 1.5 * (0.5 - third), 1.5 * (1.0 / 8 - 0.5),
                1.5 * (0.25 - 0.25), 1.5 * (5.0 / 8 - 0.25)},
               1e-14);
  CHECK_FALSE(frozen.grad().defined());

  // Mutual learning: the teacher's gradient is T q_j (log q_j - log r_j - KL) / N.
  Tensor s2 = student_2x3(DType::f64, 3.0).requires_grad_();
  Tensor trainable = teacher_2x3(DType::f64, 3.0).requires_grad_();
  kl_div_with_temperature(s2, trainable, 3.0).backward();
  REQUIRE(trainable.grad().defined());
  const double p0[] = {1.0 / 8, 3.0 / 8, 0.5};
  std::vector<double> expected;
  for (double p : p0) expected.push_back(1.5 * third * (std::log(third / p) - kl_row0));
  std::vector<double> got = values(trainable.grad());
  check_values({got[0], got[1], got[2]}, expected, 1e-13);
  CHECK(values(s2.grad()) == values(s.grad()));
}

TEST_CASE("kl_div_reference_compat reproduces KLDivLoss(softmax, softmax), without T^2", "[loss]") {
  // Per row sum_j q_j (log q_j - r_j), with r the student's probabilities (not their logs).
  const double row0 = std::log(1.0 / 3) - 1.0 / 3;
  const double row1 = -1.5 * ln2 - 9.0 / 32;  // sum q log q = -1.5 ln 2, sum q r = 9/32
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-13;
    CHECK(value(kl_div_reference_compat(student_2x3(dtype), teacher_2x3(dtype), 1.0)) ==
          Approx((row0 + row1) / 2).epsilon(tol));
    CHECK(value(kl_div_reference_compat(student_2x3(dtype, 3.0), teacher_2x3(dtype, 3.0), 3.0)) ==
          Approx((row0 + row1) / 2).epsilon(tol));  // the same probabilities as at T = 1, no T^2
  }
  // Unlike a divergence it is not 0 for identical inputs: sum q log q - sum q^2.
  Tensor uniform = Tensor::zeros({1, 4}, DType::f64);
  CHECK(value(kl_div_reference_compat(uniform, uniform, 1.0)) == Approx(std::log(0.25) - 0.25));
  // Gradient -r_j (q_j - sum_k q_k r_k) / (T N): zero for a uniform student and teacher.
  Tensor s = Tensor::zeros({1, 4}, DType::f64).requires_grad_();
  kl_div_reference_compat(s, uniform, 2.0).backward();
  for (double g : values(s.grad())) CHECK(g == Approx(0.0).margin(1e-15));
}

TEST_CASE("distill_loss equals (1 - alpha) CE + alpha KD composed from the separate ops", "[loss]") {
  Generator gen(99);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    for (KLForm form : {KLForm::standard, KLForm::reference_compat}) {
      if (form == KLForm::reference_compat && r != Reduction::mean) continue;  // the compat op is batchmean only
      INFO("reduction " << int(r) << ", form " << int(form));
      Tensor s = random::normal({6, 10}, 0.0, 2.0, gen, DType::f64).requires_grad_();
      Tensor t = random::normal({6, 10}, 0.0, 2.0, gen, DType::f64).requires_grad_();
      Tensor labels = random::randint({6}, 0, 10, gen);
      Tensor s2 = s.detach().clone().requires_grad_(), t2 = t.detach().clone().requires_grad_();
      const double alpha = 0.3, T = 3.0, eps = 0.1;

      Tensor fused = distill_loss(s, labels, t, alpha, T, eps, r, form);
      Tensor kd = form == KLForm::standard ? kl_div_with_temperature(s2, t2, T, r) : kl_div_reference_compat(s2, t2, T);
      Tensor composed = add(scale(cross_entropy(s2, labels, r, eps), 1 - alpha), scale(kd, alpha));
      REQUIRE(fused.shape() == composed.shape());
      CHECK(testing::allclose(fused, composed, 1e-13, 1e-12));

      Tensor weights = random::normal(fused.shape(), 0.0, 1.0, gen, DType::f64);
      fused.backward(weights);
      composed.backward(weights);
      CHECK(testing::allclose(s.grad(), s2.grad(), 1e-13, 1e-12));
      CHECK(testing::allclose(t.grad(), t2.grad(), 1e-13, 1e-12));
    }
  }
}

TEST_CASE("distill_loss without a teacher is cross_entropy, whatever alpha", "[loss]") {
  Tensor s = student_2x3(DType::f64);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    Tensor plain = cross_entropy(s, labels_2x3(), r, 0.2);
    CHECK(values(distill_loss(s, labels_2x3(), Tensor(), 0.7, 3.0, 0.2, r)) == values(plain));
  }
  // alpha = 0 with a teacher: CE only, and a trainable teacher gets a zero gradient.
  Tensor t = teacher_2x3(DType::f64).requires_grad_();
  Tensor loss = distill_loss(s, labels_2x3(), t, 0.0, 3.0, 0.0);
  CHECK(value(loss) == Approx(value(cross_entropy(s, labels_2x3()))).epsilon(1e-14));
  loss.backward();
  for (double g : values(t.grad())) CHECK(g == 0.0);
}

TEST_CASE("softmax losses reduce as none / mean / sum over rows", "[loss]") {
  Generator gen(5);
  Tensor s = random::normal({7, 5}, 0.0, 1.0, gen, DType::f64);
  Tensor t = random::normal({7, 5}, 0.0, 1.0, gen, DType::f64);
  Tensor labels = random::randint({7}, 0, 5, gen);
  // none gives one value per row (per element for mse); mean divides their sum by their count.
  auto check_reductions = [](size_t count, auto loss_with) {
    std::vector<double> rows = values(loss_with(Reduction::none));
    REQUIRE(rows.size() == count);
    double total = 0;
    for (double v : rows) total += v;
    CHECK(loss_with(Reduction::mean).shape().empty());
    CHECK(loss_with(Reduction::sum).shape().empty());
    CHECK(value(loss_with(Reduction::mean)) == Approx(total / count).epsilon(1e-13));
    CHECK(value(loss_with(Reduction::sum)) == Approx(total).epsilon(1e-13));
  };
  check_reductions(7, [&](Reduction r) { return cross_entropy(s, labels, r, 0.1); });
  check_reductions(7, [&](Reduction r) { return kl_div_with_temperature(s, t, 2.0, r); });
  check_reductions(7, [&](Reduction r) { return distill_loss(s, labels, t, 0.4, 2.0, 0.1, r); });
  check_reductions(35, [&](Reduction r) { return mse_loss(s, t, r); });
}

TEST_CASE("mse_loss and l2_distance match hand-computed values and gradients", "[loss]") {
  Tensor a = Tensor::from_vector<double>({1, -2, 3, 0.5}, {2, 2}).requires_grad_();
  Tensor b = Tensor::from_vector<double>({0, 1, 1, 0.5}, {2, 2});  // a - b = [1, -3, 2, 0]
  CHECK(values(mse_loss(a, b, Reduction::none)) == std::vector<double>{1, 9, 4, 0});
  CHECK(value(mse_loss(a, b, Reduction::sum)) == 14.0);
  Tensor mse = mse_loss(a, b);
  CHECK(value(mse) == 3.5);
  mse.backward();
  CHECK(values(a.grad()) == std::vector<double>{0.5, -1.5, 1, 0});  // 2 (a - b) / 4
  CHECK_FALSE(b.grad().defined());

  Tensor x = Tensor::from_vector<float>({3, 4}, {2}).requires_grad_();
  Tensor y = Tensor::zeros({2}, DType::f32).requires_grad_();
  Tensor dist = l2_distance(x, y);
  CHECK(dist.to_vector<float>() == std::vector<float>{5});
  dist.backward();
  check_values(values(x.grad()), {0.6, 0.8}, 1e-7);
  check_values(values(y.grad()), {-0.6, -0.8}, 1e-7);

  // At a == b the gradient is defined as 0, not NaN.
  Tensor same = Tensor::from_vector<double>({1, 2, 3}, {3}).requires_grad_();
  Tensor zero = l2_distance(same, same.detach());
  CHECK(value(zero) == 0.0);
  zero.backward();
  CHECK(values(same.grad()) == std::vector<double>{0, 0, 0});
}

TEST_CASE("the CPU backend writes NaN for a row whose label is out of range", "[loss]") {
  // The API rejects such labels on the CPU; the backend contract (shared with
  // CUDA, where labels are not checked on the host) is NaN for that row only.
  Tensor s = student_2x3(DType::f32);
  Tensor bad = Tensor::from_vector<int32_t>({1, 3}, {2});
  Tensor rows = Tensor::empty({2}, DType::f32);
  SoftmaxLossSpec spec;
  cpu::softmax_loss_forward(spec, s, bad, Tensor(), rows);
  std::vector<float> v = rows.to_vector<float>();
  CHECK(v[0] == Approx(std::log(8.0 / 3)));
  CHECK(std::isnan(v[1]));
}

TEST_CASE("losses reject misuse with a readable error", "[loss][errors]") {
  Tensor s = Tensor::zeros({2, 3}), t = Tensor::zeros({2, 3});
  Tensor labels = Tensor::from_vector<int32_t>({0, 2}, {2});
  using Catch::Contains;
  using Catch::StartsWith;

  // Logits and labels.
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({6}), labels), ShapeError);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({2, 3}, DType::i32), labels), DTypeError);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({0, 3}), Tensor::zeros({0}, DType::i32)), ShapeError);
  CHECK_THROWS_WITH(cross_entropy(s, Tensor::zeros({2})),
                    StartsWith("cross_entropy: ") && Contains("labels must be i32") && Contains("f32"));
  CHECK_THROWS_AS(cross_entropy(s, Tensor::zeros({2})), DTypeError);
  CHECK_THROWS_WITH(cross_entropy(s, Tensor::zeros({2, 1}, DType::i32)),
                    StartsWith("cross_entropy: ") && Contains("[N]") && Contains("[2, 1]"));
  CHECK_THROWS_AS(cross_entropy(s, Tensor::zeros({3}, DType::i32)), ShapeError);
  CHECK_THROWS_AS(cross_entropy(s, Tensor()), ValueError);
  CHECK_THROWS_WITH(cross_entropy(s, Tensor::from_vector<int32_t>({0, 7}, {2})),
                    StartsWith("cross_entropy: ") && Contains("label 7") && Contains("row 1") && Contains("[0, 3)"));
  CHECK_THROWS_AS(cross_entropy(s, Tensor::from_vector<int32_t>({-1, 0}, {2})), ValueError);
  CHECK_THROWS_WITH(cross_entropy(s, labels, Reduction::mean, 1.5),
                    StartsWith("cross_entropy: ") && Contains("label_smoothing") && Contains("1.5"));
  CHECK_THROWS_AS(cross_entropy(s, labels, Reduction::mean, -0.1), ValueError);

  // Student vs teacher, temperature.
  CHECK_THROWS_WITH(kl_div_with_temperature(s, Tensor::zeros({2, 4}), 3.0),
                    StartsWith("kl_div_with_temperature: ") && Contains("[2, 3]") && Contains("[2, 4]"));
  CHECK_THROWS_AS(kl_div_with_temperature(s, Tensor::zeros({3, 3}), 3.0), ShapeError);
  CHECK_THROWS_AS(kl_div_with_temperature(s, Tensor::zeros({2, 3}, DType::f64), 3.0), DTypeError);
  CHECK_THROWS_AS(kl_div_with_temperature(s, Tensor(), 3.0), ValueError);
  for (double bad_T : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    CHECK_THROWS_AS(kl_div_with_temperature(s, t, bad_T), ValueError);
    CHECK_THROWS_AS(kl_div_reference_compat(s, t, bad_T), ValueError);
    CHECK_THROWS_AS(distill_loss(s, labels, t, 0.3, bad_T), ValueError);
  }
  CHECK_THROWS_WITH(kl_div_with_temperature(s, t, -2.0),
                    StartsWith("kl_div_with_temperature: ") && Contains("temperature") && Contains("-2"));
  CHECK_THROWS_AS(kl_div_reference_compat(s, Tensor::zeros({2, 2}), 3.0), ShapeError);

  // distill_loss: alpha, shapes, labels.
  CHECK_THROWS_WITH(distill_loss(s, labels, t, 1.1, 3.0),
                    StartsWith("distill_loss: ") && Contains("alpha") && Contains("1.1"));
  CHECK_THROWS_AS(distill_loss(s, labels, t, -0.1, 3.0), ValueError);
  CHECK_THROWS_AS(distill_loss(s, labels, Tensor::zeros({2, 5}), 0.3, 3.0), ShapeError);
  CHECK_THROWS_AS(distill_loss(s, Tensor::zeros({2}, DType::f64), t, 0.3, 3.0), DTypeError);
  CHECK_THROWS_AS(distill_loss(s, Tensor::zeros({1}, DType::i32), t, 0.3, 3.0), ShapeError);
  CHECK_THROWS_WITH(distill_loss(s, Tensor::from_vector<int32_t>({3, 0}, {2}), t, 0.3, 3.0),
                    StartsWith("distill_loss: ") && Contains("label 3") && Contains("row 0"));
  CHECK_THROWS_AS(distill_loss(s, labels, t, 0.3, 3.0, 2.0), ValueError);

  // mse_loss, l2_distance.
  CHECK_THROWS_WITH(mse_loss(s, Tensor::zeros({3, 2})),
                    StartsWith("mse_loss: ") && Contains("[2, 3]") && Contains("[3, 2]"));
  CHECK_THROWS_AS(mse_loss(s, Tensor::zeros({2, 3}, DType::f64)), DTypeError);
  CHECK_THROWS_AS(l2_distance(s, Tensor::zeros({6})), ShapeError);
  CHECK_THROWS_AS(l2_distance(Tensor::zeros({2}, DType::i32), Tensor::zeros({2}, DType::i32)), DTypeError);
  CHECK_THROWS_AS(l2_distance(Tensor::zeros({0}), Tensor::zeros({0})), ShapeError);
}

TEST_CASE("a label outside [0, C) is a ValueError naming the label and its row", "[loss][errors]") {
  Tensor logits = Tensor::zeros({3, 4});
  CHECK_THAT(engram::testing::message_of<ValueError>(
                 [&] { cross_entropy(logits, Tensor::from_vector<int32_t>({0, 4, 1}, {3})); }),
             Catch::StartsWith("cross_entropy: label 4 in row 1 is outside [0, 4)"));
  CHECK_THROWS_AS(cross_entropy(logits, Tensor::from_vector<int32_t>({-1, 0, 1}, {3})), ValueError);
}
