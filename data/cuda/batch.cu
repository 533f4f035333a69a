// The batch kernel: one thread block per (sample, channel) plane of the batch.
//
// The block stages the sample's source plane (H x W bytes, gathered by index)
// in shared memory with 16-byte loads, copies the channel's 256-entry
// normalisation table next to it, and then each thread writes four
// consecutive output pixels of a row as one float4. The per-sample Philox
// draws are made once per block (thread 0). No float arithmetic happens on the
// device: every output value is a table entry, 0 (Cutout) or the NaN of an
// invalid index, so the result is bitwise equal to the CPU reference.
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/launch.h"
#include "core/cuda/primitives.cuh"
#include "data/batch.h"

namespace engram::data::cuda {

namespace {

constexpr int kBatchThreads = 256;  // == 256 table entries: one per thread
// Larger planes are read straight from global memory (through L1).
constexpr int64_t kMaxStagedPlaneBytes = 32 * 1024;

__global__ void __launch_bounds__(kBatchThreads)
    make_batch_kernel(const __grid_constant__ BatchParams params, const uint8_t* __restrict__ images,
                      const int32_t* __restrict__ labels, const int32_t* __restrict__ indices,
                      float* __restrict__ images_out, int32_t* __restrict__ labels_out, bool stage_plane,
                      bool vector_load, bool vector_store) {
  ENGRAM_DYNAMIC_SHARED(uint8_t, staged_plane);
  __shared__ float table[256];
  __shared__ SampleAugment draw;

  const int64_t plane_index = blockIdx.x;  // b * C + c
  const int32_t b = static_cast<int32_t>(plane_index / params.channels);
  const int32_t c = static_cast<int32_t>(plane_index % params.channels);
  const int32_t plane_size = params.height * params.width;
  float* dst = images_out + plane_index * plane_size;
  const int32_t sample = indices[b];

  // Uniform across the block, so returning before the barrier is safe.
  if (sample < 0 || sample >= params.dataset_size) {
    for (int32_t i = threadIdx.x; i < plane_size; i += blockDim.x) dst[i] = invalid_sample_value();
    if (c == 0 && threadIdx.x == 0) labels_out[b] = -1;
    return;
  }

  table[threadIdx.x] = params.normalised[c][threadIdx.x];
  if (threadIdx.x == 0) {
    draw = draw_sample_augment(params, static_cast<uint32_t>(sample));
    if (c == 0) labels_out[b] = labels[sample];
  }
  const uint8_t* src = images + (static_cast<int64_t>(sample) * params.channels + c) * plane_size;
  if (stage_plane) {
    if (vector_load) {
      const uint4* src16 = reinterpret_cast<const uint4*>(src);
      uint4* dst16 = reinterpret_cast<uint4*>(staged_plane);
      for (int32_t i = threadIdx.x; i < plane_size / 16; i += blockDim.x) dst16[i] = __ldg(src16 + i);
    } else {
      for (int32_t i = threadIdx.x; i < plane_size; i += blockDim.x) staged_plane[i] = __ldg(src + i);
    }
  }
  __syncthreads();

  const uint8_t* plane = stage_plane ? staged_plane : src;
  const SampleAugment a = draw;
  if (vector_store) {
    // W % 4 == 0: the four pixels of a group share a row.
    float4* dst4 = reinterpret_cast<float4*>(dst);
    for (int32_t group = threadIdx.x; group < plane_size / 4; group += blockDim.x) {
      const int32_t y = (4 * group) / params.width, x = (4 * group) % params.width;
      float4 v;
      v.x = augmented_value(params, a, table, plane, y, x);
      v.y = augmented_value(params, a, table, plane, y, x + 1);
      v.z = augmented_value(params, a, table, plane, y, x + 2);
      v.w = augmented_value(params, a, table, plane, y, x + 3);
      dst4[group] = v;
    }
  } else {
    for (int32_t i = threadIdx.x; i < plane_size; i += blockDim.x)
      dst[i] = augmented_value(params, a, table, plane, i / params.width, i % params.width);
  }
}


}  // namespace

void make_batch(const BatchParams& params, const Tensor& images, const Tensor& labels, const Tensor& indices,
                const Tensor& images_out, const Tensor& labels_out) {
  const int64_t plane_size = static_cast<int64_t>(params.height) * params.width;
  const int64_t planes = static_cast<int64_t>(params.batch_size) * params.channels;
  if (planes == 0) return;
  ENGRAM_CHECK(planes <= INT32_MAX, ValueError, "make_batch",
               "expected at most 2^31 - 1 planes (batch x channels), got " + std::to_string(planes));
  const uint8_t* pixels = images.data<uint8_t>();
  float* out = images_out.data<float>();
  const bool stage_plane = plane_size <= kMaxStagedPlaneBytes;
  const bool vector_load = plane_size % 16 == 0 && ::engram::cuda::aligned16(pixels);
  const bool vector_store = params.width % 4 == 0 && ::engram::cuda::aligned16(out);
  const size_t shared_bytes = stage_plane ? static_cast<size_t>((plane_size + 15) / 16 * 16) : 0;
  ::engram::cuda::launch("make_batch_kernel", make_batch_kernel, static_cast<unsigned>(planes), kBatchThreads,
                         shared_bytes, params, pixels, labels.data<int32_t>(), indices.data<int32_t>(), out,
                         labels_out.data<int32_t>(), stage_plane, vector_load, vector_store);
}

}  // namespace engram::data::cuda
