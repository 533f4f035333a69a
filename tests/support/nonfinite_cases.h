#pragma once
// The cases of flag_nonfinite (core/finite.h), run on the CPU by
// tests/cpu/test_numerical.cpp and on CUDA by tests/cuda/test_numerical.cpp.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "core/finite.h"
#include "core/random.h"

namespace engram::testing {

inline int32_t flag_bits(const Tensor& flags) { return flags.to(Device::cpu()).data<int32_t>()[0]; }

// Sizes below one block, around a block's stride and beyond what the CUDA
// launch's 16 blocks cover in one pass; more tensors than one launch takes.
template <typename T>
void check_flag_nonfinite(Device device) {
  const DType dtype = dtype_of<T>::value;
  const std::vector<int64_t> sizes = {1, 7, 255, 256, 257, 4096 * 3 + 5, 70001};
  const T bad_values[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity()};
  Generator gen(5);
  for (int64_t n : sizes) {
    for (int64_t at : {int64_t(0), n / 2, n - 1}) {
      for (T bad : bad_values) {
        Tensor t = random::uniform({n}, -1, 1, gen).to(dtype);
        t.data<T>()[at] = bad;
        Tensor flags = Tensor::scalar(4, DType::i32).reshape({1}).to(device);
        flag_nonfinite({Tensor::zeros({3}, dtype, device), t.to(device)}, flags, 1);
        INFO(n << " elements, " << bad << " at " << at);
        CHECK(flag_bits(flags) == 5);  // the bit is set, bit 4 kept
        CHECK_FALSE(all_finite(t.to(device)));
      }
    }
  }
  // Finite extremes are finite; an empty and an integer tensor hold nothing non-finite.
  Tensor extremes = Tensor::from_vector<T>({std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(),
                                            std::numeric_limits<T>::denorm_min(), T(-0.0)},
                                           {4});
  Tensor flags = Tensor::zeros({1}, DType::i32, device);
  flag_nonfinite({extremes.to(device), Tensor::zeros({0}, dtype, device),
                  Tensor::from_vector<int32_t>({1, 2}, {2}).to(device)},
                 flags, 2);
  CHECK(flag_bits(flags) == 0);
  CHECK(all_finite(extremes.to(device)));
  // 40 tensors, two launches on CUDA: only the 38th holds a NaN.
  std::vector<Tensor> many;
  for (int i = 0; i < 40; ++i) many.push_back(random::uniform({100 + i}, -1, 1, gen).to(dtype));
  many[37].data<T>()[99] = std::numeric_limits<T>::quiet_NaN();
  for (Tensor& t : many) t = t.to(device);
  flag_nonfinite(many, flags, 2);
  CHECK(flag_bits(flags) == 2);
  many[37] = Tensor::zeros({5}, dtype, device);
  Tensor clean = Tensor::zeros({1}, DType::i32, device);
  flag_nonfinite(many, clean, 2);
  CHECK(flag_bits(clean) == 0);
}

}  // namespace engram::testing
