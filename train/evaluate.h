#pragma once
// Test loss and accuracy of a model over one pass of an evaluation loader.
// Per-step loss sums and correct counts stay on the device; the host reads
// them twice at the end (two synchronisations per evaluation).
#include <functional>

#include "data/loader.h"
#include "nn/module.h"

namespace engram::train {

struct Evaluation {
  double loss = 0;      // mean cross-entropy over the samples
  double accuracy = 0;  // percent
};

// Runs `logits_of(images)` on every batch with no gradient, `model` in eval
// mode (its previous mode is restored afterwards).
Evaluation evaluate(nn::Module& model, data::Loader& loader, const std::function<Tensor(const Tensor&)>& logits_of);

}  // namespace engram::train
