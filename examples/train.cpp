// train: trains a model-zoo classifier on one dataset; see docs/cli.md.
//   train --dataset fashion-mnist --model resnet20 --epochs 30 --out runs/fmnist
#include "examples/train_cli.h"

int main(int argc, char** argv) { return engram::programs::train_main(argc, argv, engram::programs::default_preset()); }
