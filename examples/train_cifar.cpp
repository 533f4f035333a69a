// train_cifar: the CIFAR recipe (ResNet-18, SGD 0.1 momentum 0.9 wd 5e-4,
// cosine, 200 epochs, batch 128) on CIFAR-10; --dataset cifar100 for CIFAR-100.
#include "examples/train_cli.h"

int main(int argc, char** argv) { return engram::programs::train_main(argc, argv, engram::programs::cifar_preset()); }
