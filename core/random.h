#pragma once
// Random tensors from Philox. A Generator is (seed, offset): each call takes a
// fresh stream number (offset) and element i of the result is drawn from
// Philox(seed, stream, i), so results do not depend on the device or on how
// the work is split among threads.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace engram {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  uint64_t next_stream() { return offset_++; }  // each draw uses its own stream

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (like torch.manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

namespace random {

Tensor uniform(const Shape& shape, double low, double high, Generator& gen = default_generator(),
               DType dtype = DType::f32, Device device = Device::cpu());
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen = default_generator(),
              DType dtype = DType::f32, Device device = Device::cpu());
// Integers uniform in [low, high), dtype i32.
Tensor randint(const Shape& shape, int32_t low, int32_t high, Generator& gen = default_generator(),
               Device device = Device::cpu());
// A permutation of 0..n-1 that depends only on (seed, stream): sorts indices
// by their Philox word, ties broken by index.
std::vector<int32_t> permutation(int64_t n, uint64_t seed, uint64_t stream);
Tensor permutation(int64_t n, Generator& gen = default_generator(), Device device = Device::cpu());

}  // namespace random
}  // namespace engram
