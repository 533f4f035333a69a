#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "core/random.h"

namespace engram::data {

EpochSampler::EpochSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last)
    : dataset_size_(dataset_size), batch_size_(batch_size), seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  ENGRAM_CHECK(dataset_size >= 1 && dataset_size <= INT32_MAX, ValueError, "EpochSampler",
               "dataset size must be in [1, 2^31), got " + std::to_string(dataset_size));
  ENGRAM_CHECK(batch_size >= 1, ValueError, "EpochSampler",
               "batch_size must be at least 1, got " + std::to_string(batch_size));
  ENGRAM_CHECK(!drop_last || batch_size <= dataset_size, ValueError, "EpochSampler",
               "with drop_last, batch_size " + std::to_string(batch_size) + " larger than the dataset (" +
                   std::to_string(dataset_size) + " samples) leaves no batch");
}

int64_t EpochSampler::steps_per_epoch() const {
  return drop_last_ ? dataset_size_ / batch_size_ : (dataset_size_ + batch_size_ - 1) / batch_size_;
}

void EpochSampler::check_step(int64_t step) const {
  ENGRAM_CHECK(
      step >= 0 && step < steps_per_epoch(), ValueError, "EpochSampler",
      "step " + std::to_string(step) + " is outside the epoch's steps [0, " + std::to_string(steps_per_epoch()) + ")");
}

int64_t EpochSampler::step_start(int64_t step) const {
  check_step(step);
  return step * batch_size_;
}

int64_t EpochSampler::step_size(int64_t step) const { return std::min(batch_size_, dataset_size_ - step_start(step)); }

std::vector<int32_t> EpochSampler::order(uint64_t epoch) const {
  if (shuffle_) return random::permutation(dataset_size_, seed_, epoch);
  std::vector<int32_t> identity(static_cast<size_t>(dataset_size_));
  std::iota(identity.begin(), identity.end(), 0);
  return identity;
}

std::vector<int32_t> EpochSampler::batch_indices(uint64_t epoch, int64_t step) const {
  int64_t start = step_start(step), size = step_size(step);
  std::vector<int32_t> all = order(epoch);
  return std::vector<int32_t>(all.begin() + start, all.begin() + start + size);
}

Loader::Loader(const DeviceDataset& dataset, const LoaderOptions& options)
    : dataset_(dataset),
      options_(options),
      sampler_(dataset.size(), options.batch_size, options.seed, options.shuffle, options.drop_last) {
  ENGRAM_CHECK(dataset.images.defined() && dataset.images.dim() == 4, ShapeError, "Loader",
               "expected a dataset of images [N, C, H, W]");
  ENGRAM_CHECK(options.resident_epochs >= 1, ValueError, "Loader",
               "resident_epochs must be >= 1, got " + std::to_string(options.resident_epochs));
  // Fails early on a bad augmentation spec instead of at the first step.
  make_batch_params(options.augment, dataset.channels(), dataset.height(), dataset.width(), dataset.size(),
                    options.batch_size, options.seed, 0);
  Device device = dataset.device();
  images_buffer_ =
      Tensor::empty({options.batch_size, dataset.channels(), dataset.height(), dataset.width()}, DType::f32, device);
  labels_buffer_ = Tensor::empty({options.batch_size}, DType::i32, device);
}

Loader Loader::training(const DeviceDataset& dataset, int64_t batch_size, uint64_t seed, const AugmentSpec& augment) {
  LoaderOptions options;
  options.batch_size = batch_size;
  options.seed = seed;
  options.augment = augment;
  return Loader(dataset, options);
}

Loader Loader::evaluation(const DeviceDataset& dataset, int64_t batch_size, const AugmentSpec& augment) {
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  options.drop_last = false;
  options.augment = augment.without_augmentation();
  return Loader(dataset, options);
}

const Tensor& Loader::epoch_order(uint64_t epoch) {
  // Without shuffling every epoch has the same order: one resident copy.
  uint64_t key = options_.shuffle ? epoch : 0;
  auto hit = std::find_if(resident_.begin(), resident_.end(), [&](const ResidentOrder& r) { return r.epoch == key; });
  if (hit != resident_.end()) {
    std::rotate(resident_.begin(), hit, hit + 1);
    return resident_.front().order;
  }
  Tensor order = Tensor::from_vector(sampler_.order(key), {sampler_.dataset_size()}, dataset_.device());
  resident_.insert(resident_.begin(), ResidentOrder{key, order});
  if (static_cast<int64_t>(resident_.size()) > options_.resident_epochs) resident_.pop_back();
  return resident_.front().order;
}

Tensor Loader::batch_indices(uint64_t epoch, int64_t step) {
  int64_t start = sampler_.step_start(step), size = sampler_.step_size(step);
  return epoch_order(epoch).narrow_rows(start, size);
}

Batch Loader::batch(uint64_t epoch, int64_t step) {
  Batch out;
  out.epoch = epoch;
  out.step = step;
  out.indices = batch_indices(epoch, step);
  int64_t size = out.indices.size(0);
  out.images = size == options_.batch_size ? images_buffer_ : images_buffer_.narrow_rows(0, size);
  out.labels = size == options_.batch_size ? labels_buffer_ : labels_buffer_.narrow_rows(0, size);
  make_batch(dataset_, out.indices, options_.augment, options_.seed, epoch, out.images, out.labels);
  return out;
}

void Loader::batch_into(uint64_t epoch, int64_t step, const Tensor& images_out, const Tensor& labels_out) {
  make_batch(dataset_, batch_indices(epoch, step), options_.augment, options_.seed, epoch, images_out, labels_out);
}

}  // namespace engram::data
