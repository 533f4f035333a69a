#pragma once
// One entry point for every supported dataset, chosen by name, with the
// normalisation constants and default training augmentation of common
// practice (the values torchvision users copy into their scripts):
//
//   name            classes  image    mean / std                         train augmentation
//   fashion-mnist   10       1x28x28  0.2860 / 0.3530                    crop pad 2
//   mnist           10       1x28x28  0.1307 / 0.3081                    crop pad 2
//   cifar10         10       3x32x32  (0.4914, 0.4822, 0.4465)           crop pad 4 + flip
//                                     / (0.2470, 0.2435, 0.2616)
//   cifar100        100      3x32x32  (0.5071, 0.4865, 0.4409)           crop pad 4 + flip
//                                     / (0.2673, 0.2564, 0.2762)
//   tiny-imagenet   200      3x64x64  (0.4802, 0.4481, 0.3975)           crop pad 8 + flip
//                                     / (0.2302, 0.2265, 0.2262)
//
// The (Fashion-)MNIST sets are not flipped: digits are not mirror-symmetric,
// and Fashion-MNIST's benchmark recipes usually train without flips, so the
// two share one recipe (a 2-pixel shift). Cutout is off everywhere by default.
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/idx.h"

namespace engram::data {

struct DatasetSpec {
  std::string name;
  std::string default_dir;  // read when no folder is given: Debian's Fashion-MNIST, else ./datasets/<archive's folder>
  int64_t num_classes = 0;
  int64_t channels = 0, height = 0, width = 0;
  AugmentSpec train_augment;  // the default training augmentation, normalisation included
  AugmentSpec test_augment() const { return train_augment.without_augmentation(); }
};

// The names load_dataset accepts.
std::vector<std::string> dataset_names();
// The spec of a dataset; ValueError listing the known names for another name.
DatasetSpec dataset_spec(const std::string& name);

// Loads the train or test split of `name` from `dir` (empty: the spec's default_dir).
// Tiny-ImageNet's test split is its labelled val split.
ImageDataset load_dataset(const std::string& name, const std::string& dir, bool train);
// dataset_spec(name).default_dir.
std::string default_data_dir(const std::string& name);
// The first n samples of a split (n = 0: all of them), sharing storage; n
// outside [0, size] is a ValueError.
ImageDataset first_samples(const ImageDataset& split, int64_t n);

}  // namespace engram::data
