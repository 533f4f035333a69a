#include "core/random.h"

#include <algorithm>
#include <numeric>

#include "core/philox.h"

namespace engram {

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

namespace random {

namespace {

// Draws on the host (the values are identical to a device draw by
// construction) and moves the result to `device`.
template <typename Draw>
Tensor draw_floating(const char* op, const Shape& shape, DType dtype, Device device, Draw draw) {
  ENGRAM_CHECK(is_floating(dtype), DTypeError, op, std::string("expected f32 or f64, got ") + dtype_name(dtype));
  Tensor host = Tensor::empty(shape, DType::f32);
  float* out = host.data<float>();
  int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) out[i] = draw(static_cast<uint64_t>(i));
  Tensor typed = dtype == DType::f32 ? host : host.to(dtype);
  return device.is_cpu() ? typed : typed.to(device);
}

}  // namespace

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype, Device device) {
  ENGRAM_CHECK(low <= high, ValueError, "random::uniform",
               "expected low <= high, got " + std::to_string(low) + " > " + std::to_string(high));
  uint64_t seed = gen.seed(), stream = gen.next_stream();
  return draw_floating("random::uniform", shape, dtype, device, [&](uint64_t i) {
    float u = philox::to_uniform(philox::random_bits(seed, stream, i).x);
    return static_cast<float>(low + (high - low) * u);
  });
}

Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype, Device device) {
  ENGRAM_CHECK(stddev >= 0, ValueError, "random::normal", "expected stddev >= 0, got " + std::to_string(stddev));
  uint64_t seed = gen.seed(), stream = gen.next_stream();
  return draw_floating("random::normal", shape, dtype, device, [&](uint64_t i) {
    philox::Uint4 bits = philox::random_bits(seed, stream, i);
    return static_cast<float>(mean + stddev * philox::to_normal(bits.x, bits.y));
  });
}

Tensor randint(const Shape& shape, int32_t low, int32_t high, Generator& gen, Device device) {
  ENGRAM_CHECK(low < high, ValueError, "random::randint",
               "expected low < high, got [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  uint64_t seed = gen.seed(), stream = gen.next_stream();
  Tensor host = Tensor::empty(shape, DType::i32);
  int32_t* out = host.data<int32_t>();
  uint32_t range = static_cast<uint32_t>(static_cast<int64_t>(high) - low);
  for (int64_t i = 0; i < host.numel(); ++i)
    out[i] = low + static_cast<int32_t>(philox::to_below(philox::random_bits(seed, stream, i).x, range));
  return device.is_cpu() ? host : host.to(device);
}

std::vector<int32_t> permutation(int64_t n, uint64_t seed, uint64_t stream) {
  ENGRAM_CHECK(n >= 0 && n <= INT32_MAX, ValueError, "random::permutation",
               "n must be in [0, 2^31), got " + std::to_string(n));
  std::vector<uint64_t> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    keyed[i] = (static_cast<uint64_t>(philox::random_bits(seed, stream, i).x) << 32) | static_cast<uint64_t>(i);
  std::sort(keyed.begin(), keyed.end());
  std::vector<int32_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = static_cast<int32_t>(keyed[i] & 0xFFFFFFFFu);
  return perm;
}

Tensor permutation(int64_t n, Generator& gen, Device device) {
  std::vector<int32_t> perm = permutation(n, gen.seed(), gen.next_stream());
  return Tensor::from_vector(perm, {n}, device);
}

}  // namespace random
}  // namespace engram
