#include "train/bn_recalibrate.h"

#include "core/autograd.h"
#include "core/error.h"

namespace engram::train {

namespace {
void collect(nn::Module& module, std::vector<nn::BatchNorm2d*>& out) {
  if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&module)) out.push_back(bn);
  for (auto& child : module.children()) collect(*child.second, out);
}
}  // namespace

std::vector<nn::BatchNorm2d*> batch_norm_layers(nn::Module& model) {
  std::vector<nn::BatchNorm2d*> out;
  collect(model, out);
  return out;
}

void bn_recalibrate(nn::Module& model, data::Loader& loader, int64_t batches,
                    const std::function<void(const Tensor& images)>& forward, uint64_t epoch) {
  ENGRAM_CHECK(batches >= 1, ValueError, "bn_recalibrate",
               "the number of batches must be >= 1, got " + std::to_string(batches));
  std::vector<nn::BatchNorm2d*> layers = batch_norm_layers(model);
  std::vector<double> momentum;
  for (nn::BatchNorm2d* bn : layers) momentum.push_back(bn->momentum);
  const bool was_training = model.is_training();
  NoGradGuard no_grad;
  model.train();
  const int64_t steps = loader.steps_per_epoch();
  for (int64_t k = 0; k < batches; ++k) {
    for (nn::BatchNorm2d* bn : layers) bn->momentum = 1.0 / static_cast<double>(k + 1);
    forward(loader.batch(epoch + static_cast<uint64_t>(k / steps), k % steps).images);
  }
  for (size_t i = 0; i < layers.size(); ++i) layers[i]->momentum = momentum[i];
  model.train(was_training);
}

BatchNormState::BatchNormState(nn::Module& model) {
  for (nn::BatchNorm2d* bn : batch_norm_layers(model))
    saved_.push_back({bn, bn->running_mean.clone(), bn->running_var.clone(), bn->num_batches_tracked});
}

void BatchNormState::restore() const {
  for (const Saved& s : saved_) {
    s.layer->running_mean.copy_(s.running_mean);
    s.layer->running_var.copy_(s.running_var);
    s.layer->num_batches_tracked = s.num_batches_tracked;
  }
}

}  // namespace engram::train
