#pragma once
// The per-sample arithmetic of the batch kernel, written once for the CPU
// reference (data/cpu_batch.cpp) and the CUDA kernel (data/cuda/batch.cu).
//
// Every random choice of a sample is drawn from Philox(seed, stream, index)
// where `index` is the sample's index in the dataset (not its position in the
// batch) and the stream is derived from the epoch. The crop and flip use one
// stream, Cutout another, and both are tagged so that they never coincide with
// the loader's shuffle stream (which is the epoch itself):
//   crop/flip: bits = Philox(seed, kCropFlipStreamTag | epoch, index)
//              crop_y = below(bits.x, 2 * pad + 1), crop_x = below(bits.y, 2 * pad + 1),
//              flip = top bit of bits.z
//   cutout:    bits = Philox(seed, kCutoutStreamTag | epoch, index)
//              centre_y = below(bits.x, H), centre_x = below(bits.y, W)
//   rotation:  bits = Philox(seed, kRotationStreamTag | epoch, index)
//              step = below(bits.x, 2 * steps + 1) - steps, angle = step / 10 degrees
// The rotation (after crop and flip, as torchvision's RandomRotation after
// them) is bilinear about the image centre, with 0 (black) outside the image,
// and computed in fixed point: cos and sin of every angle of the 0.1-degree
// grid are a host-made Q30 table, coordinates are Q20 integers and the
// interpolated byte is rounded to nearest, so the CPU and the GPU compute the
// same integers.
// Normalisation goes through a per-channel table of the 256 possible values,
// computed once on the host as torchvision does it in float,
// (v / 255 - mean) / std, so both backends read identical bits.
#include <cstdint>
#include <cstring>

#include "core/philox.h"

namespace engram::data {

constexpr int kMaxBatchChannels = 4;
constexpr uint64_t kCropFlipStreamTag = uint64_t{1} << 62;
constexpr uint64_t kCutoutStreamTag = uint64_t{1} << 63;
constexpr uint64_t kRotationStreamTag = kCropFlipStreamTag | kCutoutStreamTag;
constexpr int kRotationStepsPerDegree = 10;
constexpr int kMaxRotationDegrees = 45;
constexpr int kMaxRotationSteps = kMaxRotationDegrees * kRotationStepsPerDegree;
constexpr int kRotationTableBits = 30;     // Q30 cos and sin
constexpr int kRotationFractionBits = 20;  // Q20 source coordinates and bilinear weights
constexpr uint64_t kMaxEpoch = (uint64_t{1} << 62) - 1;

// Everything the kernel needs besides the tensors; passed by value to the
// CUDA kernel (about 4 KB, within the kernel-parameter limit of CUDA >= 12.1).
struct BatchParams {
  uint64_t seed = 0;
  uint64_t crop_flip_stream = 0;
  uint64_t cutout_stream = 0;
  int32_t dataset_size = 0;  // N: indices outside [0, N) yield NaN images and label -1
  int32_t batch_size = 0;    // B
  int32_t channels = 0, height = 0, width = 0;
  int32_t crop_padding = 0;                       // 0: no crop
  int32_t flip = 0;                               // 1: flip horizontally with probability 1/2
  int32_t cutout_size = 0;                        // 0: no cutout
  uint64_t rotation_stream = 0;
  int32_t rotation_steps = 0;                     // angles in [-steps, steps] / 10 degrees; 0: no rotation
  float normalised[kMaxBatchChannels][256] = {};  // value of pixel v in channel c
  // round(2^30 cos(angle)) and round(2^30 sin(angle)) of step i - kMaxRotationSteps.
  int32_t rotation_cos[2 * kMaxRotationSteps + 1] = {};
  int32_t rotation_sin[2 * kMaxRotationSteps + 1] = {};
};

// What a sample with an out-of-range index becomes (the CUDA kernel cannot
// throw): a quiet NaN with the same bits on both backends, and label -1.
ENGRAM_HOST_DEVICE float invalid_sample_value() {
  constexpr uint32_t kQuietNaN = 0x7FC00000u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(kQuietNaN);
#else
  float value;
  std::memcpy(&value, &kQuietNaN, sizeof value);
  return value;
#endif
}

// The random choices of one sample, in output coordinates.
struct SampleAugment {
  int32_t crop_y = 0, crop_x = 0;        // top-left of the crop inside the padded image, in [0, 2 * pad]
  bool flip = false;                     // mirror left-right after the crop
  int32_t cutout_y0 = 0, cutout_x0 = 0;  // top-left of the zeroed square (may lie outside the image)
  int32_t rotation_step = 0;             // angle = rotation_step / kRotationStepsPerDegree degrees, anticlockwise
};

ENGRAM_HOST_DEVICE SampleAugment draw_sample_augment(const BatchParams& p, uint32_t index) {
  SampleAugment a;
  if (p.crop_padding > 0 || p.flip) {
    philox::Uint4 bits = philox::random_bits(p.seed, p.crop_flip_stream, index);
    uint32_t positions = static_cast<uint32_t>(2 * p.crop_padding + 1);
    a.crop_y = static_cast<int32_t>(philox::to_below(bits.x, positions));
    a.crop_x = static_cast<int32_t>(philox::to_below(bits.y, positions));
    a.flip = p.flip != 0 && (bits.z >> 31) != 0;
  }
  if (p.cutout_size > 0) {
    philox::Uint4 bits = philox::random_bits(p.seed, p.cutout_stream, index);
    // DeVries & Taylor: the centre is uniform over the image, the square is clipped at the border.
    a.cutout_y0 = static_cast<int32_t>(philox::to_below(bits.x, static_cast<uint32_t>(p.height))) - p.cutout_size / 2;
    a.cutout_x0 = static_cast<int32_t>(philox::to_below(bits.y, static_cast<uint32_t>(p.width))) - p.cutout_size / 2;
  }
  if (p.rotation_steps > 0) {
    philox::Uint4 bits = philox::random_bits(p.seed, p.rotation_stream, index);
    a.rotation_step =
        static_cast<int32_t>(philox::to_below(bits.x, static_cast<uint32_t>(2 * p.rotation_steps + 1))) -
        p.rotation_steps;
  }
  return a;
}

// The cropped and flipped image's byte at (y, x), 0 outside it and in the
// crop's padding.
ENGRAM_HOST_DEVICE uint8_t cropped_pixel(const BatchParams& p, const SampleAugment& a, const uint8_t* plane, int32_t y,
                                         int32_t x) {
  if (y < 0 || y >= p.height || x < 0 || x >= p.width) return 0;
  int32_t flipped_x = a.flip ? p.width - 1 - x : x;
  int32_t source_y = y + a.crop_y - p.crop_padding;
  int32_t source_x = flipped_x + a.crop_x - p.crop_padding;
  bool inside = source_y >= 0 && source_y < p.height && source_x >= 0 && source_x < p.width;
  return inside ? plane[source_y * p.width + source_x] : 0;
}

// The rotated image's byte at (y, x): the output pixel's centre, relative to
// the image centre ((W - 1) / 2, (H - 1) / 2), rotated back by the angle
// (y points down, so an anticlockwise turn maps the output offset (dx, dy)
// to the source offset (cos dx - sin dy, sin dx + cos dy)), then bilinear
// between the four neighbours. Doubled offsets keep the half-pixel centre
// exact, so 2 * Q30 trigonometry gives Q31 source coordinates, rounded to
// Q20 for the weights (a position error below 2^-20 pixel; the products
// stay below 2^48).
ENGRAM_HOST_DEVICE uint8_t rotated_pixel(const BatchParams& p, const SampleAugment& a, const uint8_t* plane, int32_t y,
                                         int32_t x) {
  const int64_t cos_q30 = p.rotation_cos[a.rotation_step + kMaxRotationSteps];
  const int64_t sin_q30 = p.rotation_sin[a.rotation_step + kMaxRotationSteps];
  const int64_t dx2 = 2 * int64_t{x} - (p.width - 1), dy2 = 2 * int64_t{y} - (p.height - 1);
  constexpr int shift = kRotationTableBits + 1 - kRotationFractionBits;
  constexpr int64_t half = int64_t{1} << (shift - 1);
  const int64_t sx = (cos_q30 * dx2 - sin_q30 * dy2 + (int64_t{p.width - 1} << kRotationTableBits) + half) >> shift;
  const int64_t sy = (sin_q30 * dx2 + cos_q30 * dy2 + (int64_t{p.height - 1} << kRotationTableBits) + half) >> shift;
  constexpr int64_t one = int64_t{1} << kRotationFractionBits;
  const int32_t x0 = static_cast<int32_t>(sx >> kRotationFractionBits);  // floor, also below 0
  const int32_t y0 = static_cast<int32_t>(sy >> kRotationFractionBits);
  const int64_t fx = sx & (one - 1), fy = sy & (one - 1);
  const int64_t top = cropped_pixel(p, a, plane, y0, x0) * (one - fx) + cropped_pixel(p, a, plane, y0, x0 + 1) * fx;
  const int64_t bottom =
      cropped_pixel(p, a, plane, y0 + 1, x0) * (one - fx) + cropped_pixel(p, a, plane, y0 + 1, x0 + 1) * fx;
  const int64_t value = top * (one - fy) + bottom * fy;  // Q40, at most 255 * 2^40
  return static_cast<uint8_t>((value + (int64_t{1} << (2 * kRotationFractionBits - 1))) >>
                              (2 * kRotationFractionBits));
}

// Output value at (c, y, x) of a sample whose source plane for channel c is
// `plane` (H x W bytes, row-major). Crop, flip and rotation, as torchvision's
// RandomCrop, RandomHorizontalFlip and RandomRotation; padding pixels are 0
// before normalisation (black), Cutout zeroes after normalisation.
ENGRAM_HOST_DEVICE float augmented_value(const BatchParams& p, const SampleAugment& a, const float* lut,
                                         const uint8_t* plane, int32_t y, int32_t x) {
  if (p.cutout_size > 0 && y >= a.cutout_y0 && y < a.cutout_y0 + p.cutout_size && x >= a.cutout_x0 &&
      x < a.cutout_x0 + p.cutout_size)
    return 0.0f;
  return lut[p.rotation_steps > 0 ? rotated_pixel(p, a, plane, y, x) : cropped_pixel(p, a, plane, y, x)];
}

}  // namespace engram::data
