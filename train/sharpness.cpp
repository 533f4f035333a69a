#include "train/sharpness.h"

#include <cmath>

#include "core/autograd.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "train/checkpoint.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "sharpness";
constexpr double kFirstStep = 1e-8;
constexpr double kStepShrink = 10;
constexpr int kRetries = 4;
constexpr double kKinkTolerance = 1e-3;

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

std::vector<double> scaled(const std::vector<double>& a, double factor) {
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = factor * a[i];
  return out;
}

// A unit vector of ±1 / √n, drawn from Philox.
std::vector<double> rademacher_unit(int64_t n, Generator& gen) {
  std::vector<double> u = random::uniform({n}, 0.0, 1.0, gen, DType::f64).to_vector<double>();
  const double entry = 1.0 / std::sqrt(static_cast<double>(n));
  for (double& x : u) x = x < 0.5 ? -entry : entry;
  return u;
}

}  // namespace

std::vector<LabelledBatch> fixed_training_batches(const std::string& dataset, const std::string& data_dir,
                                                  int64_t samples, int64_t batch) {
  ENGRAM_CONFIG_CHECK(samples >= 1, kOp, "samples", "must be at least 1, got " + std::to_string(samples));
  ENGRAM_CONFIG_CHECK(batch >= 1, kOp, "batch", "must be at least 1, got " + std::to_string(batch));
  data::ImageDataset train = data::load_dataset(dataset, data_dir, true);
  ENGRAM_CONFIG_CHECK(samples <= train.size(), kOp, "samples",
                      "must be at most the " + std::to_string(train.size()) + " training images of " + dataset +
                          ", got " + std::to_string(samples));
  data::DeviceDataset images(data::first_samples(train, samples), Device::cpu());
  data::Loader loader = data::Loader::evaluation(images, batch, data::dataset_spec(dataset).test_augment());
  std::vector<LabelledBatch> out;
  for (int64_t step = 0; step < loader.steps_per_epoch(); ++step) {
    data::Batch b = loader.batch(0, step);
    out.push_back({b.images.to(DType::f64), b.labels.clone()});  // the loader reuses its buffers
  }
  return out;
}

TrainingLoss::TrainingLoss(nn::Module& model, std::vector<LabelledBatch> batches,
                           std::function<Tensor(const Tensor&)> logits_of)
    : model_(model), params_(model.parameters()), batches_(std::move(batches)), logits_of_(std::move(logits_of)) {
  ENGRAM_CHECK(!batches_.empty(), ValueError, kOp, "the training loss needs at least one batch");
  for (const auto& [name, p] : model_.named_parameters())
    ENGRAM_CHECK(p.dtype() == DType::f64 && p.device().is_cpu(), DTypeError, kOp,
                 "parameter " + name + " is " + dtype_name(p.dtype()) + " on " + p.device().str() +
                     ", expected f64 on the CPU (Module::to)");
  for (const LabelledBatch& b : batches_) {
    ENGRAM_CHECK(b.images.dtype() == DType::f64 && b.images.device().is_cpu(), DTypeError, kOp,
                 "images must be f64 on the CPU, got " + std::string(dtype_name(b.images.dtype())) + " on " +
                     b.images.device().str());
    samples_ += b.labels.numel();
  }
  model_.eval();
  for (const Tensor& p : params_) {
    const double* data = p.data<double>();
    theta_.insert(theta_.end(), data, data + p.numel());
  }
}

void TrainingLoss::set_weights(const std::vector<double>& offset) {
  size_t k = 0;
  for (const Tensor& p : params_) {
    double* data = p.data<double>();
    for (int64_t j = 0; j < p.numel(); ++j, ++k) data[j] = offset.empty() ? theta_[k] : theta_[k] + offset[k];
  }
}

double TrainingLoss::loss_and_gradients() {
  model_.zero_grad();
  double total = 0;
  for (const LabelledBatch& b : batches_) {
    Tensor loss = scale(cross_entropy(logits_of_(b.images), b.labels, Reduction::sum),
                        1.0 / static_cast<double>(samples_));
    loss.backward();
    total += loss.item<double>();
  }
  return total;
}

double TrainingLoss::value() {
  set_weights({});
  NoGradGuard no_grad;
  double total = 0;
  for (const LabelledBatch& b : batches_)
    total += cross_entropy(logits_of_(b.images), b.labels, Reduction::sum).item<double>();
  return total / static_cast<double>(samples_);
}

std::vector<double> TrainingLoss::gradient(const std::vector<double>& offset) {
  set_weights(offset);
  loss_and_gradients();
  std::vector<double> out;
  out.reserve(theta_.size());
  for (const Tensor& p : params_) {
    Tensor g = p.grad();
    if (!g.defined()) {
      out.insert(out.end(), static_cast<size_t>(p.numel()), 0.0);  // no path from the loss (e.g. a shallow exit)
      continue;
    }
    const double* data = g.data<double>();
    out.insert(out.end(), data, data + p.numel());
  }
  set_weights({});
  return out;
}

std::vector<double> TrainingLoss::hessian_times(const std::vector<double>& v) {
  ENGRAM_CHECK(v.size() == theta_.size(), ShapeError, kOp,
               "the vector has " + std::to_string(v.size()) + " entries, the model " +
                   std::to_string(theta_.size()) + " parameters");
  if (gradient_at_theta_.empty()) gradient_at_theta_ = gradient({});
  ++products_;
  double h = kFirstStep;
  for (int attempt = 0;; ++attempt) {
    std::vector<double> plus = gradient(scaled(v, h)), minus = gradient(scaled(v, -h));
    std::vector<double> difference(v.size()), second(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      difference[i] = plus[i] - minus[i];
      second[i] = plus[i] - 2 * gradient_at_theta_[i] + minus[i];
    }
    const bool consistent = norm(second) <= kKinkTolerance * norm(difference);
    if (consistent || attempt == kRetries) {
      if (!consistent) ++unresolved_;
      return scaled(difference, 0.5 / h);
    }
    if (attempt == 0) ++kink_retries_;
    h /= kStepShrink;
  }
}

Sharpness measure_sharpness(TrainingLoss& loss, const SharpnessOptions& options) {
  ENGRAM_CHECK(options.probes >= 1, ValueError, kOp, "probes must be at least 1, got " + std::to_string(options.probes));
  ENGRAM_CHECK(options.max_iterations >= 1, ValueError, kOp,
               "max_iterations must be at least 1, got " + std::to_string(options.max_iterations));
  ENGRAM_CHECK(options.tolerance > 0, ValueError, kOp,
               "tolerance must be positive, got " + std::to_string(options.tolerance));
  const int64_t n = loss.parameter_count();
  Generator gen(options.seed);
  Sharpness s;
  s.loss = loss.value();
  s.parameters = n;
  s.samples = loss.sample_count();

  // Hutchinson: zᵀHz for z of ±1 entries is n uᵀHu for the unit u = z / √n.
  std::vector<double> quadratic;
  for (int64_t p = 0; p < options.probes; ++p) {
    std::vector<double> u = rademacher_unit(n, gen);
    quadratic.push_back(static_cast<double>(n) * dot(u, loss.hessian_times(u)));
  }
  for (double q : quadratic) s.trace += q / static_cast<double>(quadratic.size());
  if (quadratic.size() > 1) {
    double var = 0;
    for (double q : quadratic) var += (q - s.trace) * (q - s.trace);
    var /= static_cast<double>(quadratic.size() - 1);
    s.trace_stderr = std::sqrt(var / static_cast<double>(quadratic.size()));
  }
  s.probes = options.probes;

  // Power iteration with the Rayleigh quotient, which converges as (λ2/λ1)^2k.
  std::vector<double> v = rademacher_unit(n, gen);
  double previous = NAN;
  for (s.iterations = 1; s.iterations <= options.max_iterations; ++s.iterations) {
    std::vector<double> w = loss.hessian_times(v);
    s.lambda_max = dot(v, w);
    const double length = norm(w);
    if (length == 0) break;  // v is in the null space: λ = 0
    v = scaled(w, 1.0 / length);
    if (std::abs(s.lambda_max - previous) <= options.tolerance * std::abs(s.lambda_max)) break;
    previous = s.lambda_max;
  }
  s.iterations = std::min(s.iterations, options.max_iterations);
  s.products = loss.products();
  s.kink_retries = loss.kink_retries();
  s.unresolved = loss.unresolved();
  return s;
}

nlohmann::json to_json(const Sharpness& s) {
  return {{"loss", s.loss},
          {"trace", s.trace},
          {"trace_stderr", s.trace_stderr},
          {"lambda_max", s.lambda_max},
          {"probes", s.probes},
          {"iterations", s.iterations},
          {"parameters", s.parameters},
          {"samples", s.samples},
          {"products", s.products},
          {"kink_retries", s.kink_retries},
          {"unresolved", s.unresolved}};
}

Sharpness sharpness_from_json(const nlohmann::json& j, const std::string& file) {
  Sharpness s;
  s.loss = json_value<double>(j, "loss", file);
  s.trace = json_value<double>(j, "trace", file);
  s.trace_stderr = json_value<double>(j, "trace_stderr", file);
  s.lambda_max = json_value<double>(j, "lambda_max", file);
  s.probes = json_value<int64_t>(j, "probes", file);
  s.iterations = json_value<int64_t>(j, "iterations", file);
  s.parameters = json_value<int64_t>(j, "parameters", file);
  s.samples = json_value<int64_t>(j, "samples", file);
  s.products = json_value<int64_t>(j, "products", file);
  s.kink_retries = json_value<int64_t>(j, "kink_retries", file);
  s.unresolved = json_value<int64_t>(j, "unresolved", file);
  return s;
}

}  // namespace engram::train
