#pragma once
// The main job's named sets of defaults (spaced_kd --preset); a flag given
// explicitly wins over each value.
//
//   cpu            the default Fashion-MNIST experiment, sized for a 2-core CPU (docs/results.md)
//   gpu            the same experiment on the whole of Fashion-MNIST, for one GPU
//   cifar100       the Spaced KD reference code's published CIFAR-100 settings (docs/reproducing.md)
//   tiny-imagenet  its Tiny-ImageNet settings
#include <cstdint>
#include <string>
#include <vector>

#include "distill/kd_run.h"

namespace engram::distill {

struct Preset {
  std::string name;
  KdRunConfig config;      // the preset's values; fields it leaves alone keep KdRunConfig's defaults
  std::vector<double> s;   // the spaced rows' intervals
  int64_t seeds = 3;
};

std::vector<std::string> preset_names();
// ConfigError on "preset" listing the names, for another name.
Preset preset(const std::string& name);

}  // namespace engram::distill
