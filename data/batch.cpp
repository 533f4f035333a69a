#include "data/batch.h"

#include <cmath>

#include "core/device.h"

namespace engram::data {

namespace {

constexpr const char* kOp = "make_batch";

void check_dataset(const char* op, const Tensor& images, const Tensor& labels) {
  check_defined(op, "images", images);
  check_defined(op, "labels", labels);
  check_dim(op, "images", images, 4, "[N, C, H, W]");
  check_dtype(op, "images", images, DType::u8);
  check_dim(op, "labels", labels, 1, "[N]");
  check_dtype(op, "labels", labels, DType::i32);
  ENGRAM_CHECK(images.size(0) == labels.size(0), ShapeError, op,
               "expected one label per image, got " + std::to_string(images.size(0)) + " images and " +
                   std::to_string(labels.size(0)) + " labels");
  ENGRAM_CHECK(images.size(0) <= INT32_MAX, ValueError, op,
               "expected at most 2^31 - 1 samples (i32 indices), got " + std::to_string(images.size(0)));
  check_same_device(op, images, labels);
}

void check_on_device(const char* op, const char* name, const Tensor& t, Device device) {
  ENGRAM_CHECK(t.device() == device, DeviceError, op,
               std::string(name) + " must be on " + device.str() + " (the dataset's device), got " + t.device().str());
}

}  // namespace

AugmentSpec AugmentSpec::without_augmentation() const {
  AugmentSpec plain;
  plain.mean = mean;
  plain.std = std;
  return plain;
}

DeviceDataset::DeviceDataset(const ImageDataset& dataset, Device device)
    : name(dataset.name), num_classes(dataset.num_classes) {
  check_dataset("DeviceDataset", dataset.images, dataset.labels);
  images = dataset.images.device() == device ? dataset.images : dataset.images.to(device);
  labels = dataset.labels.device() == device ? dataset.labels : dataset.labels.to(device);
}

BatchParams make_batch_params(const AugmentSpec& augment, int64_t channels, int64_t height, int64_t width,
                              int64_t dataset_size, int64_t batch_size, uint64_t seed, uint64_t epoch) {
  ENGRAM_CHECK(channels >= 1 && channels <= kMaxBatchChannels, ValueError, kOp,
               "expected 1 to " + std::to_string(kMaxBatchChannels) + " channels, got " + std::to_string(channels));
  ENGRAM_CHECK(height >= 1 && width >= 1 && height * width <= INT32_MAX, ValueError, kOp,
               "expected a non-empty image smaller than 2^31 pixels, got " + std::to_string(height) + "x" +
                   std::to_string(width));
  ENGRAM_CHECK(augment.crop_padding >= 0 && augment.crop_padding <= 65535, ValueError, kOp,
               "crop_padding must be in [0, 65535], got " + std::to_string(augment.crop_padding));
  ENGRAM_CHECK(augment.cutout_size >= 0 && augment.cutout_size <= 65535, ValueError, kOp,
               "cutout_size must be in [0, 65535], got " + std::to_string(augment.cutout_size));
  ENGRAM_CHECK(augment.rotation_degrees >= 0 && augment.rotation_degrees <= kMaxRotationDegrees, ValueError, kOp,
               "rotation_degrees must be in [0, " + std::to_string(kMaxRotationDegrees) + "], got " +
                   std::to_string(augment.rotation_degrees));
  ENGRAM_CHECK(epoch <= kMaxEpoch, ValueError, kOp, "epoch must be below 2^62, got " + std::to_string(epoch));
  bool normalise = !augment.mean.empty() || !augment.std.empty();
  if (normalise) {
    ENGRAM_CHECK(
        static_cast<int64_t>(augment.mean.size()) == channels && static_cast<int64_t>(augment.std.size()) == channels,
        ValueError, kOp,
        "expected one mean and one std per channel (" + std::to_string(channels) + "), got " +
            std::to_string(augment.mean.size()) + " means and " + std::to_string(augment.std.size()) + " stds");
    for (int64_t c = 0; c < channels; ++c)
      ENGRAM_CHECK(std::isfinite(augment.mean[c]) && std::isfinite(augment.std[c]) && augment.std[c] > 0, ValueError,
                   kOp,
                   "channel " + std::to_string(c) + ": expected a finite mean and a std > 0, got mean " +
                       std::to_string(augment.mean[c]) + ", std " + std::to_string(augment.std[c]));
  }

  BatchParams p;
  p.seed = seed;
  p.crop_flip_stream = kCropFlipStreamTag | epoch;
  p.cutout_stream = kCutoutStreamTag | epoch;
  p.dataset_size = static_cast<int32_t>(dataset_size);
  p.batch_size = static_cast<int32_t>(batch_size);
  p.channels = static_cast<int32_t>(channels);
  p.height = static_cast<int32_t>(height);
  p.width = static_cast<int32_t>(width);
  p.crop_padding = static_cast<int32_t>(augment.crop_padding);
  p.flip = augment.horizontal_flip ? 1 : 0;
  p.cutout_size = static_cast<int32_t>(augment.cutout_size);
  p.rotation_stream = kRotationStreamTag | epoch;
  p.rotation_steps = static_cast<int32_t>(std::lround(augment.rotation_degrees * kRotationStepsPerDegree));
  for (int32_t step = -p.rotation_steps; step <= p.rotation_steps; ++step) {
    const double radians = step * (M_PI / 180.0) / kRotationStepsPerDegree;
    p.rotation_cos[step + kMaxRotationSteps] = static_cast<int32_t>(std::lround(std::ldexp(std::cos(radians), kRotationTableBits)));
    p.rotation_sin[step + kMaxRotationSteps] = static_cast<int32_t>(std::lround(std::ldexp(std::sin(radians), kRotationTableBits)));
  }
  // torchvision in float: ToTensor divides by 255, Normalize subtracts and divides.
  for (int64_t c = 0; c < channels; ++c)
    for (int v = 0; v < 256; ++v) {
      float scaled = static_cast<float>(v) / 255.0f;
      p.normalised[c][v] = normalise ? (scaled - augment.mean[c]) / augment.std[c] : scaled;
    }
  return p;
}

void make_batch(const DeviceDataset& dataset, const Tensor& indices, const AugmentSpec& augment, uint64_t seed,
                uint64_t epoch, const Tensor& images_out, const Tensor& labels_out) {
  check_dataset(kOp, dataset.images, dataset.labels);
  check_defined(kOp, "indices", indices);
  check_defined(kOp, "images_out", images_out);
  check_defined(kOp, "labels_out", labels_out);
  check_dim(kOp, "indices", indices, 1, "[B]");
  check_dtype(kOp, "indices", indices, DType::i32);
  check_dtype(kOp, "images_out", images_out, DType::f32);
  check_dtype(kOp, "labels_out", labels_out, DType::i32);
  check_on_device(kOp, "indices", indices, dataset.device());
  check_on_device(kOp, "images_out", images_out, dataset.device());
  check_on_device(kOp, "labels_out", labels_out, dataset.device());
  int64_t batch = indices.size(0);
  int64_t channels = dataset.channels(), height = dataset.height(), width = dataset.width();
  Shape expected_images{batch, channels, height, width};
  ENGRAM_CHECK(
      images_out.shape() == expected_images, ShapeError, kOp,
      "images_out must be " + shape_str(expected_images) + " [B, C, H, W], got " + shape_str(images_out.shape()));
  ENGRAM_CHECK(labels_out.shape() == Shape{batch}, ShapeError, kOp,
               "labels_out must be " + shape_str({batch}) + " [B], got " + shape_str(labels_out.shape()));
  BatchParams params = make_batch_params(augment, channels, height, width, dataset.size(), batch, seed, epoch);
  if (batch == 0) return;

  if (dataset.device().is_cuda()) {
    ENGRAM_CUDA_CALL(kOp, cuda::make_batch(params, dataset.images, dataset.labels, indices, images_out, labels_out));
    return;
  }
  const int32_t* index = indices.data<int32_t>();
  for (int64_t b = 0; b < batch; ++b)
    ENGRAM_CHECK(index[b] >= 0 && index[b] < dataset.size(), ValueError, kOp,
                 "indices[" + std::to_string(b) + "] = " + std::to_string(index[b]) + " is outside the dataset [0, " +
                     std::to_string(dataset.size()) + ")");
  cpu::make_batch(params, dataset.images, dataset.labels, indices, images_out, labels_out);
}

}  // namespace engram::data
