#pragma once
// The command line of the training programs. `train`, `train_cifar` and
// `train_tiny_imagenet` are the same program with different defaults (a
// preset); every flag can still override them. docs/cli.md lists the flags.
#include <string>

#include "train/config.h"

namespace engram::programs {

struct Preset {
  std::string program;      // the executable's name, used in messages
  std::string description;  // the first line of --help
  std::string model;        // a model-zoo name
  train::TrainConfig defaults;
};

// train: ResNet-20 on Fashion-MNIST, SGD 0.1 (momentum 0.9, wd 5e-4), cosine, 30 epochs, batch 128.
Preset default_preset();
// train_cifar: ResNet-18 on CIFAR-10, SGD 0.1 (momentum 0.9, wd 5e-4), cosine, 200 epochs, batch 128.
Preset cifar_preset();
// train_tiny_imagenet: the same recipe on Tiny-ImageNet-200 (64x64 inputs, 200 classes).
Preset tiny_imagenet_preset();

// Parses the flags over the preset's defaults and trains (train::run with
// train::BaselineStrategy). Returns the exit code: 0 on success, 1 for a
// bad flag or any engram::Error (message on stderr).
int train_main(int argc, char** argv, const Preset& preset);

}  // namespace engram::programs
