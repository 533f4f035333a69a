#include "train/run_data.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "train";

data::ImageDataset subset_of(const data::ImageDataset& split, int64_t n, const char* field, const char* split_name) {
  ENGRAM_CONFIG_CHECK(n <= split.size(), kOp, field,
                      "must be at most the " + std::to_string(split.size()) + " " + split_name + " images of " +
                          split.name + ", got " + std::to_string(n));
  return data::first_samples(split, n);
}

}  // namespace

RunData load_run_data(const TrainConfig& c, int64_t resident_epochs) {
  RunData d;
  d.device = resolve_device(c.device, kOp);
  d.spec = data::dataset_spec(c.dataset);
  data::ImageDataset train = subset_of(data::load_dataset(c.dataset, c.data_dir, true), c.subset, "subset", "training");
  data::ImageDataset test = subset_of(data::load_dataset(c.dataset, c.data_dir, false), c.test_subset, "test_subset", "test");
  ENGRAM_CONFIG_CHECK(c.batch <= train.size(), kOp, "batch",
                      "must be at most the " + std::to_string(train.size()) + " training images, got " +
                          std::to_string(c.batch));
  d.num_classes = train.num_classes;
  d.train = data::DeviceDataset(train, d.device);
  d.test = data::DeviceDataset(test, d.device);

  data::LoaderOptions options;
  options.batch_size = c.batch;
  options.seed = c.seed;
  options.augment = training_augment(c, d.spec);
  options.resident_epochs = resident_epochs;
  d.train_loader = std::make_unique<data::Loader>(d.train, options);
  d.test_loader = std::make_unique<data::Loader>(data::Loader::evaluation(d.test, c.eval_batch, d.spec.test_augment()));
  return d;
}

data::AugmentSpec training_augment(const TrainConfig& c, const data::DatasetSpec& spec) {
  if (!c.augment) return spec.test_augment();
  data::AugmentSpec augment = spec.train_augment;
  if (c.crop_padding >= 0) augment.crop_padding = c.crop_padding;
  augment.rotation_degrees = c.rotation_degrees;
  return augment;
}

}  // namespace engram::train
