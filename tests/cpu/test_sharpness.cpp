// The sharpness tool against Hessians known in closed form: softmax
// regression, whose Hessian is (1/N) Σ_i (diag(p_i) − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ
// (x̃ = (x, 1) for the bias), and a ReLU network sitting next to a kink.
#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <cmath>

#include "core/random.h"
#include "kernels/elementwise.h"
#include "kernels/softmax.h"
#include "nn/layers.h"
#include "train/sharpness.h"

using namespace engram;
using train::LabelledBatch;

namespace {

constexpr int64_t kFeatures = 5, kClasses = 4;

class SoftmaxRegression : public nn::Module {
 public:
  SoftmaxRegression() : linear(register_module("linear", std::make_shared<nn::Linear>(kFeatures, kClasses))) {}
  Tensor logits(const Tensor& x) { return linear->forward(x); }
  std::shared_ptr<nn::Linear> linear;
};

// Two batches of unequal size, so that the loss's weighting by samples is tested too.
std::vector<LabelledBatch> gaussian_batches(uint64_t seed) {
  Generator gen(seed);
  std::vector<LabelledBatch> batches;
  for (int64_t size : {16, 11})
    batches.push_back({random::normal({size, kFeatures}, 0.0, 1.5, gen, DType::f64),
                       random::randint({size}, 0, kClasses, gen)});
  return batches;
}

// Parameters in parameters() order: weight [C, d] row-major, then bias [C].
Eigen::MatrixXd exact_hessian(SoftmaxRegression& model, const std::vector<LabelledBatch>& batches) {
  const int64_t n = kClasses * (kFeatures + 1);
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(n, n);
  auto cls = [](int64_t k) { return k < kClasses * kFeatures ? k / kFeatures : k - kClasses * kFeatures; };
  int64_t samples = 0;
  for (const LabelledBatch& b : batches) {
    Tensor p = softmax(model.logits(b.images).detach());
    for (int64_t i = 0; i < b.labels.numel(); ++i, ++samples) {
      auto feature = [&](int64_t k) {
        return k < kClasses * kFeatures ? b.images.at<double>({i, k % kFeatures}) : 1.0;
      };
      for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < n; ++l) {
          const double pk = p.at<double>({i, cls(k)}), pl = p.at<double>({i, cls(l)});
          const double a = (cls(k) == cls(l) ? pk : 0.0) - pk * pl;
          h(k, l) += a * feature(k) * feature(l);
        }
    }
  }
  return h / static_cast<double>(samples);
}

std::vector<double> random_unit(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> v = random::normal({n}, 0.0, 1.0, gen, DType::f64).to_vector<double>();
  double length = 0;
  for (double x : v) length += x * x;
  for (double& x : v) x /= std::sqrt(length);
  return v;
}

double relative_difference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) { return (a - b).norm() / b.norm(); }

Eigen::VectorXd as_eigen(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

}  // namespace

TEST_CASE("sharpness: Hessian-vector products, trace and top eigenvalue of softmax regression", "[sharpness]") {
  manual_seed(3);
  SoftmaxRegression model;
  model.to(DType::f64);
  // Weights large enough that the predictions are far from uniform.
  model.linear->weight.detach().copy_(random::normal({kClasses, kFeatures}, 0.0, 0.8, default_generator(), DType::f64));
  std::vector<LabelledBatch> batches = gaussian_batches(11);
  const Eigen::MatrixXd h = exact_hessian(model, batches);
  train::TrainingLoss loss(model, batches, [&](const Tensor& x) { return model.logits(x); });
  REQUIRE(loss.parameter_count() == h.rows());
  REQUIRE(loss.sample_count() == 27);

  for (uint64_t seed : {1, 2, 3}) {
    std::vector<double> v = random_unit(loss.parameter_count(), seed);
    CHECK(relative_difference(as_eigen(loss.hessian_times(v)), h * as_eigen(v)) < 1e-6);
  }
  CHECK(loss.kink_retries() == 0);

  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(h);
  const double lambda_max = eigen.eigenvalues().maxCoeff();
  REQUIRE(lambda_max > 0);
  train::SharpnessOptions options;
  options.probes = 64;
  options.seed = 5;
  train::Sharpness s = train::measure_sharpness(loss, options);
  INFO("trace " << s.trace << " ± " << s.trace_stderr << ", exact " << h.trace() << "; lambda_max " << s.lambda_max
                << ", exact " << lambda_max << " after " << s.iterations << " iterations");
  CHECK(std::abs(s.lambda_max - lambda_max) <= 1e-3 * lambda_max);
  CHECK(s.iterations < options.max_iterations);
  // Within the estimator's error (three standard errors) ...
  CHECK(std::abs(s.trace - h.trace()) <= 3 * s.trace_stderr);
  // ... and that error is the one Rademacher probes have: Var(zᵀHz) = 2 (|H|_F² − Σ H_ii²).
  const double probe_var = 2 * (h.squaredNorm() - h.diagonal().squaredNorm());
  const double expected_stderr = std::sqrt(probe_var / static_cast<double>(options.probes));
  CHECK(s.trace_stderr > 0.5 * expected_stderr);
  CHECK(s.trace_stderr < 2.0 * expected_stderr);
  CHECK(s.probes == 64);
  CHECK(s.parameters == kClasses * (kFeatures + 1));
  CHECK(s.samples == 27);
  CHECK(s.unresolved == 0);
  // The loss L is the samples' mean cross-entropy, whatever the batch sizes.
  double expected_loss = 0;
  for (const LabelledBatch& b : batches) {
    Tensor log_p = log_softmax(model.logits(b.images).detach());
    for (int64_t i = 0; i < b.labels.numel(); ++i) expected_loss -= log_p.at<double>({i, b.labels.at<int32_t>({i})});
  }
  CHECK(s.loss == Approx(expected_loss / 27).epsilon(1e-12));
}

namespace {

// logits = W2 act(W1 x + b1) + b2, with act = relu or the identity.
class TwoLayer : public nn::Module {
 public:
  explicit TwoLayer(bool with_relu)
      : with_relu_(with_relu),
        hidden(register_module("hidden", std::make_shared<nn::Linear>(kFeatures, 6))),
        out(register_module("out", std::make_shared<nn::Linear>(6, kClasses))) {}
  Tensor logits(const Tensor& x) {
    Tensor z = hidden->forward(x);
    return out->forward(with_relu_ ? relu(z) : z);
  }

 private:
  bool with_relu_;

 public:
  std::shared_ptr<nn::Linear> hidden, out;
};

}  // namespace

TEST_CASE("sharpness: a ReLU next to its kink is differentiated on the side the model sits on", "[sharpness]") {
  std::vector<LabelledBatch> batches = gaussian_batches(21);
  auto build = [&](TwoLayer& m) {
    manual_seed(7);
    TwoLayer fresh(true);  // the same initial weights for both models
    m.load_state_dict(fresh.state_dict());
    m.to(DType::f64);
    // Every hidden unit active on every sample (pre-activations >= 1), but
    // unit 0 on one sample only 3e-10 above its kink.
    double* w = m.hidden->weight.data<double>();
    double* b = m.hidden->bias.data<double>();
    for (int64_t j = 0; j < 6; ++j) {
      double lowest = INFINITY;
      for (const LabelledBatch& batch : batches)
        for (int64_t i = 0; i < batch.labels.numel(); ++i) {
          double z = 0;
          for (int64_t f = 0; f < kFeatures; ++f) z += w[j * kFeatures + f] * batch.images.at<double>({i, f});
          lowest = std::min(lowest, z);
        }
      b[j] = (j == 0 ? 3e-10 : 1.0) - lowest;
    }
  };
  TwoLayer relu_net(true), linear_net(false);
  build(relu_net);
  build(linear_net);
  train::TrainingLoss relu_loss(relu_net, batches, [&](const Tensor& x) { return relu_net.logits(x); });
  train::TrainingLoss linear_loss(linear_net, batches, [&](const Tensor& x) { return linear_net.logits(x); });

  // A direction that moves unit 0's bias: steps of 1e-8 and 1e-9 cross the
  // kink, 1e-10 does not. On the active side the ReLU is the identity.
  std::vector<double> v = random_unit(relu_loss.parameter_count(), 4);
  for (double& x : v) x *= 0.2;
  v[6 * kFeatures] += 1.0;
  double length = 0;
  for (double x : v) length += x * x;
  for (double& x : v) x /= std::sqrt(length);
  const Eigen::VectorXd expected = as_eigen(linear_loss.hessian_times(v));
  CHECK(linear_loss.kink_retries() == 0);
  CHECK(relative_difference(as_eigen(relu_loss.hessian_times(v)), expected) < 1e-5);
  CHECK(relu_loss.kink_retries() == 1);
  CHECK(relu_loss.unresolved() == 0);
}

TEST_CASE("sharpness: bad inputs are named", "[sharpness]") {
  SoftmaxRegression model;
  CHECK_THROWS_WITH(train::TrainingLoss(model, gaussian_batches(1), [&](const Tensor& x) { return model.logits(x); }),
                    Catch::Contains("parameter linear.weight is f32 on cpu, expected f64 on the CPU"));
  model.to(DType::f64);
  train::TrainingLoss loss(model, gaussian_batches(1), [&](const Tensor& x) { return model.logits(x); });
  CHECK_THROWS_WITH(loss.hessian_times({1.0}), Catch::Contains("the vector has 1 entries, the model 24 parameters"));
  train::SharpnessOptions options;
  options.probes = 0;
  CHECK_THROWS_WITH(train::measure_sharpness(loss, options), Catch::Contains("probes must be at least 1, got 0"));
  CHECK_THROWS_AS(model.to(DType::i32), DTypeError);
}
