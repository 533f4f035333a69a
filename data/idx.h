#pragma once
// The IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed): a
// big-endian header (two zero bytes, a type code, the rank, one 32-bit size
// per dimension) followed by the data. engram reads unsigned-byte files.
#include <string>

#include "core/tensor.h"

namespace engram::data {

// An image classification set kept as loaded: uint8 images [N, C, H, W] and
// int32 labels [N] in [0, num_classes).
struct ImageDataset {
  std::string name;
  Tensor images;
  Tensor labels;
  int64_t num_classes = 0;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Reads one IDX file of unsigned bytes into a u8 tensor shaped as the file
// says. Accepts gzip or raw. Throws IOError naming the file for a missing,
// truncated or malformed file.
Tensor read_idx(const std::string& path);

// Fashion-MNIST / MNIST from a folder holding {train,t10k}-{images-idx3,
// labels-idx1}-ubyte[.gz]. Images become [N, 1, 28, 28].
ImageDataset load_mnist_format(const std::string& dir, bool train, const std::string& name = "fashion-mnist");

// Where Fashion-MNIST is read from when no folder is given: $ENGRAM_DATA_DIR
// if set, else Debian's dataset-fashion-mnist location.
std::string default_fashion_mnist_dir();

}  // namespace engram::data
