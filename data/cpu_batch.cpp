// CPU reference of the batch kernel: the same per-sample draws and the same
// normalisation table as data/cuda/batch.cu (data/augment.h), hence the same bits.
#include "core/parallel.h"
#include "data/batch.h"

namespace engram::data::cpu {

void make_batch(const BatchParams& params, const Tensor& images, const Tensor& labels, const Tensor& indices,
                const Tensor& images_out, const Tensor& labels_out) {
  const uint8_t* pixels = images.data<uint8_t>();
  const int32_t* label = labels.data<int32_t>();
  const int32_t* index = indices.data<int32_t>();
  float* out = images_out.data<float>();
  int32_t* label_out = labels_out.data<int32_t>();
  const int64_t plane_size = static_cast<int64_t>(params.height) * params.width;
  const int64_t planes = static_cast<int64_t>(params.batch_size) * params.channels;

#pragma omp parallel for schedule(static) if (planes * plane_size >= kParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t b = plane / params.channels, c = plane % params.channels;
    const int32_t sample = index[b];
    float* dst = out + plane * plane_size;
    if (sample < 0 || sample >= params.dataset_size) {
      for (int64_t i = 0; i < plane_size; ++i) dst[i] = invalid_sample_value();
      if (c == 0) label_out[b] = -1;
      continue;
    }
    if (c == 0) label_out[b] = label[sample];
    const SampleAugment draw = draw_sample_augment(params, static_cast<uint32_t>(sample));
    const uint8_t* src = pixels + (static_cast<int64_t>(sample) * params.channels + c) * plane_size;
    for (int32_t y = 0; y < params.height; ++y)
      for (int32_t x = 0; x < params.width; ++x)
        dst[static_cast<int64_t>(y) * params.width + x] =
            augmented_value(params, draw, params.normalised[c], src, y, x);
  }
}

}  // namespace engram::data::cpu
