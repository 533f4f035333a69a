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

namespace engram::cuda {
namespace {

// Up to kMaxSpans spans a launch; blockIdx.y picks the span, the x blocks
// stride over its elements. A thread that saw a non-finite value sets the bit
// once, so a finite step costs no atomics at all.
constexpr int kMaxSpans = 32;
constexpr unsigned kFlagBlocks = 16;

template <typename T>
struct SpanList {
  const T* data[kMaxSpans];
  size_t count[kMaxSpans];
};

template <typename T>
__global__ void flag_nonfinite_kernel(SpanList<T> list, int32_t* flags, int32_t bit) {
  const T* data = list.data[blockIdx.y];
  const size_t count = list.count[blockIdx.y];
  bool bad = false;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    bad |= !isfinite(data[i]);
  if (bad) atomicOr(flags, bit);
}

template <typename T>
void flag_spans(const std::vector<ElementSpan>& spans, int32_t* flags, int32_t bit) {
  for (size_t first = 0; first < spans.size(); first += kMaxSpans) {
    SpanList<T> list{};
    const size_t n = spans.size() - first < kMaxSpans ? spans.size() - first : kMaxSpans;
    size_t longest = 0;
    for (size_t i = 0; i < n; ++i) {
      list.data[i] = static_cast<const T*>(spans[first + i].data);
      list.count[i] = spans[first + i].count;
      longest = list.count[i] > longest ? list.count[i] : longest;
    }
    const unsigned blocks = grid_for(longest) < kFlagBlocks ? grid_for(longest) : kFlagBlocks;
    launch("flag_nonfinite_kernel", flag_nonfinite_kernel<T>, dim3(blocks, static_cast<unsigned>(n)), 256, 0, list,
           flags, bit);
  }
}

}  // namespace

void flag_nonfinite(const std::vector<ElementSpan>& spans, DType dtype, int32_t* flags, int32_t bit) {
  if (dtype == DType::f32) return flag_spans<float>(spans, flags, bit);
  if (dtype == DType::f64) return flag_spans<double>(spans, flags, bit);
  throw DTypeError(std::string("cuda::flag_nonfinite: expected f32 or f64, got ") + dtype_name(dtype));
}

}  // namespace engram::cuda
