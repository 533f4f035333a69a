#include "train/baseline.h"

#include "kernels/loss.h"

namespace engram::train {

void check_model_name(const std::string& field, const std::string& name) {
  std::string known;
  for (const std::string& n : nn::model_names()) {
    if (n == name) return;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw ConfigError("train", field, "\"" + name + "\" is not in the model zoo, expected one of " + known);
}

BaselineStrategy::BaselineStrategy(std::string model, double label_smoothing, ModelFactory make)
    : model_name_(std::move(model)), label_smoothing_(label_smoothing), make_(std::move(make)) {}

void BaselineStrategy::validate(const TrainConfig&) const {
  if (!make_) check_model_name("model", model_name_);
  ENGRAM_CONFIG_CHECK(label_smoothing_ >= 0 && label_smoothing_ < 1, "train", "label_smoothing",
                      "must be in [0, 1), got " + std::to_string(label_smoothing_));
}

void BaselineStrategy::build(const RunSetup& setup) {
  model_ = make_ ? make_(setup.in_channels, setup.num_classes)
                 : nn::make_model(model_name_, setup.in_channels, setup.num_classes);
  model_->to(setup.device);
  model_->train();
  optimizer_ = make_optimizer(setup.config, model_->parameters());
}

void BaselineStrategy::step(const BatchRef& ref, const data::Batch& batch, StepContext& context) {
  nn::ModelOutput out = model_->forward(batch.images);
  Tensor loss = cross_entropy(out.logits, batch.labels, Reduction::mean, label_smoothing_);
  context.learn(Role::student, *optimizer_, ref, batch, loss, out.logits);
}

std::vector<Evaluated> BaselineStrategy::evaluated() {
  return {{Role::student, model_.get(), [this](const Tensor& x) { return model_->forward(x).logits; }}};
}

// The model under bare PyTorch names, so that the file loads into PyTorch
// (and serves as an offline KD teacher) after dropping "optimizer.*".
CheckpointParts BaselineStrategy::checkpoint_parts() { return {{{"", model_.get()}}, {{"optimizer", optimizer_.get()}}}; }

}  // namespace engram::train
