// distill/losses.h: the student's KD objective against its closed form, its
// gradients against central differences, the projector, and the worked
// example of docs/distillation.md.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include "core/autograd.h"
#include "core/error.h"
#include "core/random.h"
#include "data/dataset.h"
#include "distill/kd_run.h"
#include "train/interrupt.h"
#include "distill/losses.h"
#include "distill/spaced.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "tests/support/checks.h"
#include "tests/support/op_case.h"

using namespace engram;
using namespace engram::distill;
using Catch::Contains;

using engram::testing::message_of;

namespace {

// A projector with given f64 weights, so that the objective can be checked in double.
class FixedProjector : public nn::Layer {
 public:
  FixedProjector(Tensor w1, Tensor b1, Tensor w2, Tensor b2) : w1_(w1), b1_(b1), w2_(w2), b2_(b2) {}
  Tensor forward(const Tensor& x) override { return linear(relu(linear(x, w1_, b1_)), w2_, b2_); }

 private:
  Tensor w1_, b1_, w2_, b2_;
};

std::vector<double> softmax_row(const std::vector<double>& z, double T) {
  double m = *std::max_element(z.begin(), z.end()), sum = 0;
  std::vector<double> p(z.size());
  for (size_t j = 0; j < z.size(); ++j) sum += p[j] = std::exp((z[j] - m) / T);
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace

TEST_CASE("the KD objective equals its closed form (standard and reference KL)", "[distill][loss]") {
  const std::vector<double> s = {2.0, 0.5, -1.0, 0.1, 0.2, 0.3}, t = {1.0, 1.5, -0.5, -2.0, 0.0, 2.0};
  const std::vector<int32_t> y = {0, 2};
  const std::vector<double> fs = {0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25};                       // [2, 4]
  const std::vector<double> ft = {0.3, -0.2, 1.0, 0.0, 0.5, -1.0};                                  // [2, 3]
  const std::vector<double> w1 = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 0.1, 0.2, -0.3};  // [3, 4]
  const std::vector<double> b1 = {0.05, -0.1, 0.2};
  const std::vector<double> w2 = {0.3, -0.1, 0.2, 0.5, 0.4, -0.6, -0.2, 0.1, 0.7};  // [3, 3]
  const std::vector<double> b2 = {0.0, 0.1, -0.1};
  const double alpha = 0.3, T = 3.0, beta = 0.03;

  // Independent double loops.
  double ce = 0, kl = 0, kl_ref = 0, squares = 0;
  for (int i = 0; i < 2; ++i) {
    std::vector<double> zs(s.begin() + 3 * i, s.begin() + 3 * i + 3), zt(t.begin() + 3 * i, t.begin() + 3 * i + 3);
    std::vector<double> p = softmax_row(zs, 1.0), r = softmax_row(zs, T), q = softmax_row(zt, T);
    ce += -std::log(p[y[i]]) / 2;
    for (int j = 0; j < 3; ++j) {
      kl += T * T * q[j] * (std::log(q[j]) - std::log(r[j])) / 2;
      kl_ref += q[j] * (std::log(q[j]) - r[j]) / 2;  // the reference's term: no T^2
    }
    std::vector<double> h(3);
    for (int k = 0; k < 3; ++k) {
      double v = b1[k];
      for (int j = 0; j < 4; ++j) v += w1[4 * k + j] * fs[4 * i + j];
      h[k] = std::max(v, 0.0);
    }
    for (int k = 0; k < 3; ++k) {
      double v = b2[k];
      for (int j = 0; j < 3; ++j) v += w2[3 * k + j] * h[j];
      squares += (v - ft[3 * i + k]) * (v - ft[3 * i + k]);
    }
  }
  const double distance = std::sqrt(squares);

  auto f64 = [](const std::vector<double>& v, Shape shape) { return Tensor::from_vector<double>(v, shape); };
  nn::ModelOutput student{f64(fs, {2, 4}), f64(s, {2, 3})}, teacher{f64(ft, {2, 3}), f64(t, {2, 3})};
  Tensor labels = Tensor::from_vector<int32_t>(y, {2});
  FixedProjector projector(f64(w1, {3, 4}), f64(b1, {3}), f64(w2, {3, 3}), f64(b2, {3}));
  KdLossConfig config;
  config.alpha = alpha;
  config.temperature = T;
  config.beta = beta;

  CHECK(kd_student_loss(student, labels, nullptr, nullptr, config).item<double>() == Approx(ce).epsilon(1e-12));
  CHECK(kd_student_loss(student, labels, &teacher, &projector, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl + beta * distance).epsilon(1e-12));
  config.kl_form = KLForm::reference_compat;
  CHECK(kd_student_loss(student, labels, &teacher, &projector, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl_ref + beta * distance).epsilon(1e-12));
  config.beta = 0;
  CHECK(kd_student_loss(student, labels, &teacher, nullptr, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl_ref).epsilon(1e-12));

  // Mutual learning: the teacher's CE plus KD toward the student.
  double ce_t = 0, kl_t = 0;
  for (int i = 0; i < 2; ++i) {
    std::vector<double> zs(s.begin() + 3 * i, s.begin() + 3 * i + 3), zt(t.begin() + 3 * i, t.begin() + 3 * i + 3);
    std::vector<double> p = softmax_row(zt, 1.0), r = softmax_row(zt, T), q = softmax_row(zs, T);
    ce_t += -std::log(p[y[i]]) / 2;
    for (int j = 0; j < 3; ++j) kl_t += T * T * q[j] * (std::log(q[j]) - std::log(r[j])) / 2;
  }
  config.kl_form = KLForm::standard;
  CHECK(mutual_teacher_loss(teacher, labels, student, config).item<double>() ==
        Approx((1 - alpha) * ce_t + alpha * kl_t).epsilon(1e-12));
}

TEST_CASE("the KD objective's gradients match central differences; the teacher gets none", "[distill][gradcheck]") {
  for (KLForm form : {KLForm::standard, KLForm::reference_compat}) {
    testing::OpCase op_case;
    op_case.name = std::string("kd_student_loss ") + (form == KLForm::standard ? "standard" : "reference");
    op_case.make_inputs = [](DType dtype, Generator& gen) {
      auto normal = [&](Shape shape) { return random::normal(shape, 0.0, 1.0, gen, dtype).requires_grad_(); };
      // The teacher's logits and features (inputs 2 and 3) are constants: no gradient.
      return std::vector<Tensor>{normal({3, 5}),
                                 normal({3, 4}),
                                 random::normal({3, 5}, 0.0, 1.0, gen, dtype),
                                 random::normal({3, 6}, 0.0, 1.0, gen, dtype),
                                 normal({6, 4}),
                                 normal({6}),
                                 normal({6, 6}),
                                 normal({6}),
                                 Tensor::from_vector<int32_t>({1, 4, 0}, {3})};
    };
    op_case.run = [form](const std::vector<Tensor>& in) {
      nn::ModelOutput student{in[1], in[0]}, teacher{in[3], in[2]};
      FixedProjector projector(in[4], in[5], in[6], in[7]);
      KdLossConfig config;
      config.beta = 0.5;  // large enough that the feature term's gradient is checked sharply
      config.kl_form = form;
      return kd_student_loss(student, in[8], &teacher, &projector, config);
    };
    testing::CheckResult result = testing::gradcheck(op_case);
    INFO(result.report);
    CHECK(result.ok);
  }

  Tensor s = Tensor::zeros({2, 3}).requires_grad_(), fs = Tensor::zeros({2, 3}).requires_grad_();
  Tensor t = Tensor::ones({2, 3}).requires_grad_(), ft = Tensor::ones({2, 3}).requires_grad_();
  nn::ModelOutput student{fs, s}, teacher{ft, t};
  FixedProjector identity(Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}), Tensor::zeros({3}),
                          Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}), Tensor::zeros({3}));
  kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, &identity, KdLossConfig{}).backward();
  CHECK(s.grad().defined());
  CHECK(!t.grad().defined());
  CHECK(!ft.grad().defined());
}

TEST_CASE("the projector maps student features to the teacher's width with PyTorch names", "[distill][loss]") {
  auto projector = make_projector(64, 256);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : projector->named_parameters()) names.push_back(name + shape_str(tensor.shape()));
  CHECK(names == std::vector<std::string>{"0.weight[256, 64]", "0.bias[256]", "2.weight[256, 256]", "2.bias[256]"});
  nn::ModelOutput student{Tensor::zeros({2, 64}), Tensor::zeros({2, 10})};
  nn::ModelOutput teacher{Tensor::zeros({2, 128}), Tensor::zeros({2, 10})};
  CHECK_THAT(
      message_of<ShapeError>([&] {
        kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, projector.get(), KdLossConfig{});
      }),
      Contains("projected student features have shape [2, 256]") && Contains("[2, 128]"));
  CHECK_THAT(message_of<ValueError>([&] {
               kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, nullptr, KdLossConfig{});
             }),
             Contains("needs a projector"));
}

TEST_CASE("the worked example of docs/distillation.md", "[distill][loss]") {
  // Values from PyTorch 1.13 autograd in float64 (the doc's table).
  Tensor labels = Tensor::from_vector<int32_t>({0}, {1});
  struct Expected {
    KLForm form;
    bool with_ce;
    double value;
    std::vector<double> grad;
  };
  const std::vector<Expected> cases = {
      {KLForm::standard, false, 0.416355, {0.443359, -0.349653, -0.0937057}},
      {KLForm::reference_compat, false, -1.41582, {-0.00106578, -0.00730775, 0.00837353}},
      {KLForm::standard, true, 0.293825, {-0.0170744, 0.0178073, -0.000732905}},
      {KLForm::reference_compat, true, -0.255829, {-0.150402, 0.120511, 0.0298909}},
  };
  for (const Expected& e : cases) {
    Tensor s = Tensor::from_vector<float>({2.0f, 0.5f, -1.0f}, {1, 3}).requires_grad_();
    Tensor t = Tensor::from_vector<float>({1.0f, 1.5f, -0.5f}, {1, 3});
    Tensor loss = !e.with_ce ? (e.form == KLForm::standard ? kl_div_with_temperature(s, t, 3.0)
                                                           : kl_div_reference_compat(s, t, 3.0))
                             : distill_loss(s, labels, t, 0.3, 3.0, 0.0, Reduction::mean, e.form);
    loss.backward();
    CHECK(loss.item<float>() == Approx(e.value).epsilon(1e-5));
    std::vector<float> grad = s.grad().to_vector<float>();
    for (int j = 0; j < 3; ++j) CHECK(grad[j] == Approx(e.grad[j]).epsilon(1e-4).margin(1e-6));
  }
}
