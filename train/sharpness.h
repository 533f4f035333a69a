#pragma once
// How sharp a model's minimum is, measured as the Spaced KD paper argues its
// gain: the trace and the largest eigenvalue of the Hessian of the training
// loss
//   L(θ) = (1/N) Σ_i CE(f_θ(x_i), y_i)
// over a fixed set of N training images, with the model in eval mode (BN uses
// its running statistics, so L is a function of the parameters alone).
//
// Hessian-vector products are central differences of f64 gradients on the
// CPU: H v ≈ (∇L(θ + h v) − ∇L(θ − h v)) / 2h for a unit v. engram's autograd
// has no double backward; in f64 the difference is accurate to ~1e-8 relative
// at h = 1e-8 (truncation h², rounding 1e-16 / h), far below the estimators'
// own noise.
//
// The products see the ReLU kinks that double backward ignores: an activation
// whose input changes sign between θ − hv and θ + hv adds a jump to the
// gradient difference that does not shrink with h. Each product is therefore
// checked against its one-sided forms (∇L(θ) is computed once): when
// |∇L(θ+hv) − 2∇L(θ) + ∇L(θ−hv)| exceeds 1e-3 of |∇L(θ+hv) − ∇L(θ−hv)|, which
// bounds a kink's error relative to |Hv|, the product is retried with h / 10,
// at most four times. So the tool measures the Hessian of the piece of the
// loss the model sits on, as PyHessian does with double backward.
#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>
#include <string>

#include "nn/module.h"

namespace engram::train {

// Images and labels of one batch of the fixed set.
struct LabelledBatch {
  Tensor images;  // f64 [B, C, H, W], on the CPU
  Tensor labels;  // i32 [B]
};

// The first `samples` training images of `dataset` (read from `data_dir`,
// empty: its default folder), normalised and not augmented, in batches of
// `batch`: the fixed set L is measured on. ConfigError when the split has
// fewer images.
std::vector<LabelledBatch> fixed_training_batches(const std::string& dataset, const std::string& data_dir,
                                                  int64_t samples, int64_t batch);

// L(θ) and its derivatives at the model's weights θ.
class TrainingLoss {
 public:
  // `model` on the CPU in f64 (Module::to), put in eval mode; `logits_of`
  // maps images to logits. The model's weights are restored after each call.
  TrainingLoss(nn::Module& model, std::vector<LabelledBatch> batches,
               std::function<Tensor(const Tensor&)> logits_of);

  int64_t parameter_count() const { return static_cast<int64_t>(theta_.size()); }
  int64_t sample_count() const { return samples_; }
  double value();
  // ∇L at θ + offset, flattened in parameters() order.
  std::vector<double> gradient(const std::vector<double>& offset);
  // H v for a unit vector v, by checked central differences (see above).
  std::vector<double> hessian_times(const std::vector<double>& v);

  int64_t products() const { return products_; }
  int64_t kink_retries() const { return kink_retries_; }  // products retried with a smaller step
  int64_t unresolved() const { return unresolved_; }      // products still inconsistent at the smallest step

 private:
  void set_weights(const std::vector<double>& offset);
  double loss_and_gradients();

  nn::Module& model_;
  std::vector<Tensor> params_;
  std::vector<LabelledBatch> batches_;
  std::function<Tensor(const Tensor&)> logits_of_;
  std::vector<double> theta_, gradient_at_theta_;
  int64_t samples_ = 0, products_ = 0, kink_retries_ = 0, unresolved_ = 0;
};

struct SharpnessOptions {
  int64_t probes = 32;           // Hutchinson's Rademacher probes
  int64_t max_iterations = 100;  // power iteration
  double tolerance = 1e-5;       // power iteration stops when λ changes by less, relatively
  uint64_t seed = 0;             // the probes and the power iteration's start
};

struct Sharpness {
  double loss = 0;
  double trace = 0, trace_stderr = 0;  // Hutchinson: mean of zᵀHz and its standard error
  double lambda_max = 0;               // the eigenvalue of largest magnitude
  int64_t probes = 0, iterations = 0;
  int64_t parameters = 0, samples = 0;
  int64_t products = 0, kink_retries = 0, unresolved = 0;
};

Sharpness measure_sharpness(TrainingLoss& loss, const SharpnessOptions& options = {});

// Every field by name; from_json raises IOError naming `file` and a missing key.
nlohmann::json to_json(const Sharpness& s);
Sharpness sharpness_from_json(const nlohmann::json& j, const std::string& file);

}  // namespace engram::train
