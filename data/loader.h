#pragma once
// Epoch order and batches. A batch is a pure function of (seed, epoch, step):
// the epoch's order is random::permutation(N, seed, stream = epoch) (identity
// when not shuffling), step s takes positions [s * B, s * B + B) of it, and
// the batch kernel's draws depend on (seed, epoch, dataset index). Spaced KD
// stores (epoch, step) descriptors and regenerates any batch bitwise later
// with Loader::batch(epoch, step).
#include <cstdint>
#include <vector>

#include "data/batch.h"

namespace engram::data {

// Which dataset indices each step of an epoch visits; host-only, no tensors.
class EpochSampler {
 public:
  // drop_last: a trailing batch smaller than batch_size is skipped (training);
  // otherwise it is the last, short step (evaluation).
  EpochSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool shuffle = true, bool drop_last = true);

  int64_t dataset_size() const { return dataset_size_; }
  int64_t batch_size() const { return batch_size_; }
  uint64_t seed() const { return seed_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  int64_t steps_per_epoch() const;
  // Samples in step `step`: batch_size, except a short last step without drop_last.
  int64_t step_size(int64_t step) const;
  // Position of step `step`'s first sample in the epoch's order.
  int64_t step_start(int64_t step) const;
  // Every dataset index once, in the order epoch `epoch` visits them.
  std::vector<int32_t> order(uint64_t epoch) const;
  // The dataset indices of one step (a copy of a slice of order(epoch)).
  std::vector<int32_t> batch_indices(uint64_t epoch, int64_t step) const;

 private:
  void check_step(int64_t step) const;
  int64_t dataset_size_, batch_size_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  AugmentSpec augment;  // see dataset_spec() for each dataset's defaults
  // Epoch orders kept on the device (i32 dataset indices: 4 bytes per sample
  // each, 200 KB for CIFAR's 50000 training images). A Spaced KD
  // buffer of s epochs straddles up to ceil(s) + 1 epochs: the default 4
  // covers s <= 3 without re-uploading an order during a replay.
  int64_t resident_epochs = 4;
};

// One step's batch. `images` and `labels` are the loader's buffers (or views
// of them): valid until the next call of Loader::batch. `indices` is a view of
// the epoch order on the device.
struct Batch {
  uint64_t epoch = 0;
  int64_t step = 0;
  Tensor indices;  // i32 [B]
  Tensor images;   // f32 [B, C, H, W]
  Tensor labels;   // i32 [B]
  int64_t size() const { return labels.size(0); }
};

// Batches of a device-resident dataset on its device. The epoch's order is
// uploaded once per epoch (a host-to-device copy, the only synchronisation);
// steps take slices of it with no copy and no synchronisation. The orders of
// the most recently used epochs stay resident (LoaderOptions::resident_epochs),
// so replaying recent epochs' batches (Spaced KD) does not upload again.
class Loader {
 public:
  Loader(const DeviceDataset& dataset, const LoaderOptions& options);
  // Shuffled, drop_last, with `augment` (training).
  static Loader training(const DeviceDataset& dataset, int64_t batch_size, uint64_t seed, const AugmentSpec& augment);
  // In order, keeping the short last batch, normalised but not augmented (evaluation).
  static Loader evaluation(const DeviceDataset& dataset, int64_t batch_size, const AugmentSpec& augment);

  const EpochSampler& sampler() const { return sampler_; }
  const LoaderOptions& options() const { return options_; }
  const DeviceDataset& dataset() const { return dataset_; }
  int64_t steps_per_epoch() const { return sampler_.steps_per_epoch(); }

  // The dataset indices of (epoch, step) on the device: a view, no copy.
  Tensor batch_indices(uint64_t epoch, int64_t step);
  // Builds batch (epoch, step) into the loader's buffers.
  Batch batch(uint64_t epoch, int64_t step);
  // Builds batch (epoch, step) into caller-owned tensors of the step's size.
  void batch_into(uint64_t epoch, int64_t step, const Tensor& images_out, const Tensor& labels_out);

 private:
  const Tensor& epoch_order(uint64_t epoch);

  DeviceDataset dataset_;
  LoaderOptions options_;
  EpochSampler sampler_;
  Tensor images_buffer_, labels_buffer_;
  struct ResidentOrder {
    uint64_t epoch;
    Tensor order;
  };
  std::vector<ResidentOrder> resident_;  // most recently used first
};

}  // namespace engram::data
