#pragma once
// The runs of the numerical-fault tests (tests/cpu/test_numerical.cpp,
// tests/cuda/test_numerical.cpp): a small, quiet configuration, and a model
// that goes wrong on cue.
#include <memory>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "nn/models.h"
#include "train/baseline.h"
#include "train/run.h"

namespace engram::testing {

// A ResNet-8 whose logits pass through an identity op whose gradient turns
// NaN from its `poisoned_step`-th training forward on (counting from 1). Its
// loss stays finite at that step; its gradients do not.
class GradientPoisonedModel : public nn::Classifier {
 public:
  GradientPoisonedModel(int64_t in_channels, int64_t num_classes, int64_t poisoned_step)
      : inner_(register_module("inner", nn::make_model("resnet8", in_channels, num_classes))),
        poisoned_step_(poisoned_step) {
    feature_dim_ = inner_->feature_dim();
    num_classes_ = num_classes;
  }

  nn::ModelOutput forward(const Tensor& x) override {
    nn::ModelOutput out = inner_->forward(x);
    if (!is_training()) return out;
    const bool poisoned = ++forwards_ >= poisoned_step_;
    out.logits = autograd::record("poison_gradient", out.logits.detach().clone(), {out.logits},
                                  [poisoned](const Tensor& g) -> std::vector<Tensor> {
                                    return {poisoned ? scale(g, NAN) : g};
                                  });
    return out;
  }

 private:
  std::shared_ptr<nn::Classifier> inner_;
  int64_t poisoned_step_, forwards_ = 0;
};

// 64 training images in batches of 16 (4 steps), one epoch, no output files.
inline train::TrainConfig small_config(DeviceRequest device) {
  train::TrainConfig config;
  config.device = device;
  config.subset = 64, config.test_subset = 50, config.eval_batch = 50, config.batch = 16, config.epochs = 1;
  return config;
}

inline train::RunHooks quiet() {
  train::RunHooks hooks;
  hooks.log = nullptr;
  return hooks;
}

inline train::BaselineStrategy poisoned_at(int64_t step) {
  return train::BaselineStrategy("resnet8", 0, [step](int64_t in_channels, int64_t num_classes) {
    return std::make_shared<GradientPoisonedModel>(in_channels, num_classes, step);
  });
}

}  // namespace engram::testing
