// train_tiny_imagenet: the CIFAR recipe on Tiny-ImageNet-200 (64x64 inputs,
// 200 classes, random crop with 8-pixel padding and flips).
#include "examples/train_cli.h"

int main(int argc, char** argv) { return engram::programs::train_main(argc, argv, engram::programs::tiny_imagenet_preset()); }
