#pragma once
// The batch-kernel case table, shared by tests/cpu/test_batch.cpp (checked
// against an independent pad-crop-flip reference) and tests/cuda/test_batch.cpp
// (CUDA bitwise equal to the CPU). Header-only: it needs no compiled support.
#include <string>
#include <vector>

#include "data/batch.h"

namespace engram::testing {

// A synthetic dataset: pixel values that differ between samples, channels,
// rows and columns, so that any index or layout mistake changes the output.
inline data::ImageDataset synthetic_images(int64_t n, int64_t c, int64_t h, int64_t w, int64_t num_classes = 5) {
  data::ImageDataset ds;
  ds.name = "synthetic";
  ds.images = Tensor::empty({n, c, h, w}, DType::u8);
  ds.labels = Tensor::empty({n}, DType::i32);
  ds.num_classes = num_classes;
  uint8_t* pixels = ds.images.data<uint8_t>();
  for (int64_t i = 0; i < ds.images.numel(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + i / 11) % 251 + 2);
  int32_t* labels = ds.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>((i * 3 + 1) % num_classes);
  return ds;
}

struct BatchCase {
  std::string name;
  int64_t n, c, h, w;
  std::vector<int32_t> indices;
  data::AugmentSpec augment;
  uint64_t seed, epoch;
};

inline data::AugmentSpec augment_spec(int64_t channels, int64_t pad, bool flip, int64_t cutout) {
  data::AugmentSpec spec;
  spec.crop_padding = pad;
  spec.horizontal_flip = flip;
  spec.cutout_size = cutout;
  for (int64_t c = 0; c < channels; ++c) {
    spec.mean.push_back(0.3f + 0.1f * static_cast<float>(c));
    spec.std.push_back(0.2f + 0.05f * static_cast<float>(c));
  }
  return spec;
}

// Odd shapes on purpose (and rotations, fixed point, exact on both backends): batch 1, 1x1 and 7x7 maps, widths not a multiple of
// 4 (scalar stores) and multiples of 4 (float4 stores), planes whose byte size
// is not a multiple of 16 (byte loads), 1, 3 and 4 channels, padding larger
// than the image, repeated indices, a plane over the 32 KB staging limit.
inline std::vector<BatchCase> batch_cases() {
  std::vector<BatchCase> cases;
  auto add = [&](std::string name, int64_t n, int64_t c, int64_t h, int64_t w, std::vector<int32_t> indices,
                 int64_t pad, bool flip, int64_t cutout, uint64_t seed, uint64_t epoch, bool normalise = true,
                 double rotation = 0) {
    data::AugmentSpec spec = augment_spec(c, pad, flip, cutout);
    spec.rotation_degrees = rotation;
    if (!normalise) {
      spec.mean.clear();
      spec.std.clear();
    }
    cases.push_back({std::move(name), n, c, h, w, std::move(indices), spec, seed, epoch});
  };
  add("plain 3x32x32", 10, 3, 32, 32, {4, 0, 9, 2}, 0, false, 0, 1, 0);
  add("plain, no normalisation", 6, 3, 8, 8, {5, 1, 2}, 0, false, 0, 1, 0, false);
  add("cifar crop4 flip", 12, 3, 32, 32, {11, 3, 7, 0, 5, 8, 1, 2}, 4, true, 0, 7, 3);
  add("cifar crop4 flip cutout16", 12, 3, 32, 32, {11, 3, 7, 0, 5, 8, 1, 2}, 4, true, 16, 7, 3);
  add("batch 1", 3, 3, 32, 32, {2}, 4, true, 8, 42, 1);
  add("1x1 images pad 1", 9, 3, 1, 1, {0, 8, 4, 4, 2, 7, 1}, 1, true, 0, 5, 2);
  add("7x7 maps, 4 channels", 8, 4, 7, 7, {7, 6, 5, 4, 3, 2, 1, 0}, 2, true, 3, 11, 0);
  add("1 channel 28x28 pad 2", 20, 1, 28, 28, {19, 0, 13, 7, 7, 2}, 2, false, 0, 3, 9);
  add("odd 5x9 pad 3 flip cutout 5", 15, 3, 5, 9, {14, 1, 2, 3, 12, 0, 6}, 3, true, 5, 99, 4);
  add("non-square 6x12 (float4 rows)", 9, 3, 6, 12, {8, 3, 3, 0, 1}, 2, true, 4, 13, 6);
  add("padding larger than image", 4, 2, 3, 5, {0, 1, 2, 3}, 6, true, 0, 17, 1);
  add("cutout larger than image", 5, 3, 4, 4, {4, 3, 2}, 1, false, 9, 21, 2);
  add("flip only 16x16", 16, 3, 16, 16, {15, 14, 0, 1, 2, 3, 9, 10}, 0, true, 0, 23, 5);
  add("tiny-imagenet 64x64 crop 8", 6, 3, 64, 64, {5, 2, 0, 3}, 8, true, 0, 31, 7);
  add("large plane 1x200x200 (unstaged)", 3, 1, 200, 200, {2, 0, 1}, 4, true, 20, 37, 0);
  add("large epoch", 8, 3, 8, 8, {1, 2, 3, 4}, 2, true, 2, 41, (uint64_t{1} << 62) - 1);
  add("cifar100 crop4 flip rotate 15", 12, 3, 32, 32, {11, 3, 7, 0, 5, 8, 1, 2}, 4, true, 0, 7, 3, true, 15);
  add("rotate 45, odd 7x9, cutout 3", 6, 3, 7, 9, {5, 0, 3, 3, 1}, 2, true, 3, 43, 2, true, 45);
  add("rotate 12.5, 1 channel 28x28", 10, 1, 28, 28, {9, 4, 0, 6}, 2, false, 0, 47, 5, false, 12.5);
  add("rotate 30, tiny-imagenet 64x64", 4, 3, 64, 64, {3, 1, 0}, 4, true, 0, 53, 1, true, 30);
  return cases;
}

}  // namespace engram::testing
