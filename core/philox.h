#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011), written once for host and device. A random number is a pure
// function of (key, counter): the CPU and the GPU produce identical bits for
// the same pair, and any draw can be recomputed later from its coordinates.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ENGRAM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ENGRAM_HOST_DEVICE inline
#endif

namespace engram::philox {

struct Uint4 {
  uint32_t x, y, z, w;
};

ENGRAM_HOST_DEVICE uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Ten rounds of the Philox-4x32 bijection of `counter` under `key`.
ENGRAM_HOST_DEVICE Uint4 philox4x32_10(Uint4 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(kMul0, counter.x, &hi0);
    uint32_t lo1 = mulhilo(kMul1, counter.z, &hi1);
    counter = {hi1 ^ counter.y ^ key0, lo1, hi0 ^ counter.w ^ key1, lo0};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// The four 32-bit words for coordinates (seed, stream, index): `stream` names
// what is being drawn (an epoch's shuffle, a dropout call, an init), `index`
// the element.
ENGRAM_HOST_DEVICE Uint4 random_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  Uint4 counter{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(stream),
                static_cast<uint32_t>(stream >> 32)};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in [0, 1) with 24 random bits (exact in float).
ENGRAM_HOST_DEVICE float to_uniform(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// Uniform integer in [0, n) by multiply-shift (Lemire); bias < n / 2^32.
ENGRAM_HOST_DEVICE uint32_t to_below(uint32_t bits, uint32_t n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(bits) * n) >> 32);
}

// Standard normal from two words by Box-Muller, computed in double so that
// host and device agree to the last float bit.
ENGRAM_HOST_DEVICE float to_normal(uint32_t bits_a, uint32_t bits_b) {
  double u1 = (static_cast<double>(bits_a) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
  double u2 = static_cast<double>(bits_b) * (1.0 / 4294967296.0);
  return static_cast<float>(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

}  // namespace engram::philox
