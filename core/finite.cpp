#include "core/finite.h"

#include <cmath>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace engram {

namespace {

constexpr const char* kOp = "flag_nonfinite";

template <typename T>
bool any_nonfinite(const T* data, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(data[i])) return true;
  return false;
}

}  // namespace

void flag_nonfinite(const std::vector<Tensor>& tensors, const Tensor& flags, int32_t bit) {
  check_defined(kOp, "flags", flags);
  ENGRAM_CHECK(flags.dtype() == DType::i32 && flags.numel() == 1, ValueError, kOp,
               "flags must be an i32 tensor of one element, got " + std::string(dtype_name(flags.dtype())) + " " +
                   shape_str(flags.shape()));
  std::vector<cuda::ElementSpan> spans[2];  // f32, f64 (on CUDA)
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_defined(kOp, ("tensor " + std::to_string(i)).c_str(), t);
    ENGRAM_CHECK(t.device() == flags.device(), DeviceError, kOp,
                 "tensor " + std::to_string(i) + " is on " + t.device().str() + ", flags on " + flags.device().str());
    if (!is_floating(t.dtype()) || t.numel() == 0) continue;
    const size_t n = static_cast<size_t>(t.numel());
    if (t.device().is_cpu()) {
      bool bad = t.dtype() == DType::f32 ? any_nonfinite(t.data<float>(), n) : any_nonfinite(t.data<double>(), n);
      if (bad) flags.data<int32_t>()[0] |= bit;
    } else {
      spans[t.dtype() == DType::f32 ? 0 : 1].push_back({t.raw_data(), n});
    }
  }
#if ENGRAM_HAS_CUDA
  if (!spans[0].empty()) cuda::flag_nonfinite(spans[0], DType::f32, flags.data<int32_t>(), bit);
  if (!spans[1].empty()) cuda::flag_nonfinite(spans[1], DType::f64, flags.data<int32_t>(), bit);
#endif
}

bool all_finite(const Tensor& t) {
  check_defined("all_finite", "the tensor", t);
  Tensor flags = Tensor::zeros({1}, DType::i32, t.device());
  flag_nonfinite({t}, flags, 1);
  return flags.to(Device::cpu()).data<int32_t>()[0] == 0;
}

}  // namespace engram
