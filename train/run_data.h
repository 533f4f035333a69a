#pragma once
// The data of one run: its device, both splits resident there, the training
// loader (shuffled, augmented) and the evaluation loader.
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/loader.h"
#include "train/config.h"

namespace engram::train {

struct RunData {
  Device device = Device::cpu();
  data::DatasetSpec spec;
  data::DeviceDataset train, test;
  int64_t num_classes = 0;
  std::unique_ptr<data::Loader> train_loader, test_loader;
};

// Loads the configured splits (the subsets' first images) onto the device.
// `resident_epochs`: the epoch orders the training loader keeps (a Spaced KD
// buffer straddles several epochs). ConfigError for a subset larger than its
// split or a batch larger than the training subset; the loaders' IOError for
// a missing or corrupt dataset.
RunData load_run_data(const TrainConfig& config, int64_t resident_epochs);

// The training batches' augmentation: the dataset's, with the configured
// crop padding and rotation; without `augment`, normalisation only.
data::AugmentSpec training_augment(const TrainConfig& config, const data::DatasetSpec& spec);

}  // namespace engram::train
