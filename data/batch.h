#pragma once
// Device-resident datasets and the batch kernel (step 1 of the training step
// that docs/architecture.md walks through).
//
// A dataset is moved to the training device once, as uint8 images and int32
// labels. A batch is then one kernel: gather by index, random crop with zero
// padding, horizontal flip, normalisation and optional Cutout, written into
// tensors the caller owns (no allocation per step, no host synchronisation).
// Every random choice depends only on (seed, epoch, dataset index of the
// sample), see data/augment.h, so the CPU reference and the CUDA kernel give
// bitwise-identical batches and any batch can be regenerated later.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/augment.h"
#include "data/idx.h"

namespace engram::data {

// Augmentation and normalisation, in torchvision's order:
//   RandomCrop(size=(H, W), padding=crop_padding)   zero (black) fill; 0 = no crop
//   RandomHorizontalFlip(p=0.5)                     when horizontal_flip
//   RandomRotation(rotation_degrees)                bilinear, zero fill; angles on a 0.1-degree grid
//   ToTensor + Normalize(mean, std)                 empty mean/std = only x / 255
//   Cutout(cutout_size)                             DeVries & Taylor; zeroes a square after normalisation
struct AugmentSpec {
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  int64_t cutout_size = 0;  // side of the square; 0 = off
  double rotation_degrees = 0;  // uniform in [-d, d], d <= 45; 0 = off
  std::vector<float> mean;  // per channel, for images scaled to [0, 1]
  std::vector<float> std;

  bool is_random() const { return crop_padding > 0 || horizontal_flip || cutout_size > 0 || rotation_degrees > 0; }
  // The same normalisation without any random transform (evaluation).
  AugmentSpec without_augmentation() const;
};

// A dataset resident on one device: images u8 [N, C, H, W], labels i32 [N].
struct DeviceDataset {
  std::string name;
  Tensor images;
  Tensor labels;
  int64_t num_classes = 0;

  DeviceDataset() = default;
  // Copies the dataset to `device` once (on the CPU the tensors are shared).
  // Throws ShapeError / DTypeError when the dataset is not u8 [N, C, H, W] + i32 [N].
  DeviceDataset(const ImageDataset& dataset, Device device);

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  Device device() const { return images.device(); }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// Writes the batch of samples `indices` (i32 [B], on the dataset's device)
// into images_out (f32 [B, C, H, W]) and labels_out (i32 [B]), both on the
// dataset's device. Queued on engram's stream on CUDA; never synchronises.
// On the CPU an index outside [0, N) is a ValueError; the CUDA kernel cannot
// check without a host sync and writes NaN images and label -1 instead.
void make_batch(const DeviceDataset& dataset, const Tensor& indices, const AugmentSpec& augment, uint64_t seed,
                uint64_t epoch, const Tensor& images_out, const Tensor& labels_out);

// Validates `augment` against a dataset of C channels and fills the kernel
// parameters (normalisation table, Philox streams) for (seed, epoch).
BatchParams make_batch_params(const AugmentSpec& augment, int64_t channels, int64_t height, int64_t width,
                              int64_t dataset_size, int64_t batch_size, uint64_t seed, uint64_t epoch);

// Backends: tensors are allocated and validated by make_batch.
namespace cpu {
void make_batch(const BatchParams& params, const Tensor& images, const Tensor& labels, const Tensor& indices,
                const Tensor& images_out, const Tensor& labels_out);
}  // namespace cpu

namespace cuda {
void make_batch(const BatchParams& params, const Tensor& images, const Tensor& labels, const Tensor& indices,
                const Tensor& images_out, const Tensor& labels_out);
}  // namespace cuda

}  // namespace engram::data
