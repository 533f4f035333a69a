#pragma once
// Plain training as a strategy of the run loop: one model, cross-entropy on
// every batch. `train` runs it, and so does `spaced_kd --modes baseline`.
#include <functional>
#include <memory>
#include <string>

#include "nn/models.h"
#include "train/strategy.h"

namespace engram::train {

using ModelFactory = std::function<std::shared_ptr<nn::Classifier>(int64_t in_channels, int64_t num_classes)>;

// ConfigError on `field` unless `name` is in the model zoo (listing it).
void check_model_name(const std::string& field, const std::string& name);

class BaselineStrategy : public Strategy {
 public:
  // `model`: a model-zoo name; `make`, if given, builds the model instead (tests).
  explicit BaselineStrategy(std::string model, double label_smoothing = 0, ModelFactory make = {});

  std::string name() const override { return "baseline"; }
  std::string models() const override { return model_name_; }
  void validate(const TrainConfig& config) const override;
  void build(const RunSetup& setup) override;
  int64_t max_steps(Role role, int64_t steps) const override { return role == Role::student ? steps : 0; }
  void step(const BatchRef& ref, const data::Batch& batch, StepContext& context) override;
  std::vector<Evaluated> evaluated() override;
  CheckpointParts checkpoint_parts() override;
  nlohmann::json identity() const override { return {{"model", model_name_}}; }

  nn::Classifier& model() { return *model_; }

 private:
  std::string model_name_;
  double label_smoothing_;
  ModelFactory make_;
  std::shared_ptr<nn::Classifier> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

}  // namespace engram::train
