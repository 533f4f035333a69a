#pragma once
// BatchNorm recalibration: running statistics recomputed from the current
// weights, so that an evaluation measures the weights and not how stale the
// statistics are. In Spaced KD the teacher's replays (train-mode BN) and the
// student's bursts right before an evaluation refresh the running statistics
// at different times than in online KD; recalibrating both makes the
// comparison fair (docs/results.md).
#include <cstdint>
#include <functional>
#include <vector>

#include "data/loader.h"
#include "nn/layers.h"

namespace engram::train {

// Every nn::BatchNorm2d in the module tree, depth first in registration order.
std::vector<nn::BatchNorm2d*> batch_norm_layers(nn::Module& model);

// With no gradient and `model` in train mode, runs forward(images) on the
// loader's batches 0 .. batches - 1 of `epoch` (continuing into the next
// epochs if there are fewer steps), with every BN layer's momentum set to 1/k
// for the k-th batch. Afterwards each layer's running mean and variance are
// the exact averages of its K per-batch means and unbiased variances (what
// PyTorch's momentum=None computes). Momentum and the model's mode are
// restored; num_batches_tracked counts the K batches; parameters are not
// touched. On CUDA the batches are built in the loader's buffers.
void bn_recalibrate(nn::Module& model, data::Loader& loader, int64_t batches,
                    const std::function<void(const Tensor& images)>& forward, uint64_t epoch = 0);

// The BN buffers of a model, copied, to put back after a recalibrated
// evaluation so that the training run itself is unchanged.
class BatchNormState {
 public:
  explicit BatchNormState(nn::Module& model);
  void restore() const;

 private:
  struct Saved {
    nn::BatchNorm2d* layer;
    Tensor running_mean, running_var;
    int64_t num_batches_tracked;
  };
  std::vector<Saved> saved_;
};

}  // namespace engram::train
