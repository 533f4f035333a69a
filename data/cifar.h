#pragma once
// CIFAR-10 and CIFAR-100 in their binary versions (Krizhevsky, 2009), as the
// official tarballs unpack them:
//   CIFAR-10  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
//             records of <1 label byte><3072 image bytes>
//   CIFAR-100 cifar-100-binary/{train,test}.bin
//             records of <1 coarse label byte><1 fine label byte><3072 image bytes>
// The image bytes are the 1024 red, then green, then blue values of a 32x32
// image in row-major order, i.e. already CHW. CIFAR-100 uses the fine label
// (100 classes), as torchvision.datasets.CIFAR100 does.
#include <string>

#include "data/idx.h"

namespace engram::data {

// `dir` is the folder holding the .bin files, or its parent holding
// cifar-10-batches-bin/ (cifar-100-binary/). Images u8 [N, 3, 32, 32].
// Throws IOError naming the file for a missing, truncated or malformed file
// or a label out of range.
ImageDataset load_cifar10(const std::string& dir, bool train);
ImageDataset load_cifar100(const std::string& dir, bool train);

}  // namespace engram::data
