// Element-type plumbing for core/: fill and dtype conversion on the device.
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/launch.h"
#include "core/cuda_runtime.h"

namespace engram::cuda {
namespace {

template <typename T>
__global__ void fill_kernel(T* data, size_t count, T value) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    data[i] = value;
}

template <typename Src, typename Dst>
__global__ void cast_kernel(const Src* src, Dst* dst, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = static_cast<Dst>(src[i]);
}

unsigned grid_for(size_t count) {
  size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 4096 ? (blocks == 0 ? 1 : blocks) : 4096);
}

template <typename T>
void fill_typed(void* data, size_t count, double value) {
  launch("fill_kernel", fill_kernel<T>, grid_for(count), 256, 0, static_cast<T*>(data), count, static_cast<T>(value));
}

template <typename Src>
void cast_from(const void* src, void* dst, DType dst_dtype, size_t count) {
  auto s = static_cast<const Src*>(src);
  unsigned grid = grid_for(count);
  switch (dst_dtype) {
    case DType::f32:
      launch("cast_kernel", cast_kernel<Src, float>, grid, 256, 0, s, static_cast<float*>(dst), count);
      break;
    case DType::f64:
      launch("cast_kernel", cast_kernel<Src, double>, grid, 256, 0, s, static_cast<double*>(dst), count);
      break;
    case DType::i32:
      launch("cast_kernel", cast_kernel<Src, int32_t>, grid, 256, 0, s, static_cast<int32_t*>(dst), count);
      break;
    case DType::u8:
      launch("cast_kernel", cast_kernel<Src, uint8_t>, grid, 256, 0, s, static_cast<uint8_t*>(dst), count);
      break;
  }
}

}  // namespace

void fill(void* data, DType dtype, size_t count, double value) {
  switch (dtype) {
    case DType::f32: fill_typed<float>(data, count, value); break;
    case DType::f64: fill_typed<double>(data, count, value); break;
    case DType::i32: fill_typed<int32_t>(data, count, value); break;
    case DType::u8: fill_typed<uint8_t>(data, count, value); break;
  }
}

void cast(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t count) {
  switch (src_dtype) {
    case DType::f32: cast_from<float>(src, dst, dst_dtype, count); break;
    case DType::f64: cast_from<double>(src, dst, dst_dtype, count); break;
    case DType::i32: cast_from<int32_t>(src, dst, dst_dtype, count); break;
    case DType::u8: cast_from<uint8_t>(src, dst, dst_dtype, count); break;
  }
}

}  // namespace engram::cuda

namespace engram::cuda {
namespace {
template <typename T>
__global__ void accumulate_kernel(T* dst, const T* src, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    dst[i] += src[i];
}
}  // namespace

void accumulate(void* dst, const void* src, DType dtype, size_t count) {
  if (dtype == DType::f32) {
    launch("accumulate_kernel", accumulate_kernel<float>, grid_for(count), 256, 0, static_cast<float*>(dst),
           static_cast<const float*>(src), count);
  } else if (dtype == DType::f64) {
    launch("accumulate_kernel", accumulate_kernel<double>, grid_for(count), 256, 0, static_cast<double*>(dst),
           static_cast<const double*>(src), count);
  } else {
    throw DTypeError(std::string("cuda::accumulate: expected f32 or f64, got ") + dtype_name(dtype));
  }
}

}  // namespace engram::cuda
