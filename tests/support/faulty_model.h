#pragma once
// A model that goes wrong on cue, for the tests of numerical faults: a
// ResNet-8 whose logits pass through an identity op whose gradient turns NaN
// from its `poisoned_step`-th training forward on (counting from 1). Its loss
// stays finite at that step; its gradients do not.
#include <memory>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "nn/models.h"

namespace engram::testing {

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

}  // namespace engram::testing
