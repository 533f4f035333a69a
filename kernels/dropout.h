#pragma once
// Dropout with a mask that is a pure function of (seed, stream, element):
//
//   element i is kept when the top 24 bits of word (i % 4) of
//   Philox(seed, stream, i / 4) are >= threshold = round(p * 2^24),
//
// so each Philox call serves four neighbouring elements, the CPU and the GPU
// drop exactly the same elements, and the backward pass regenerates the mask
// instead of storing it. Kept elements are scaled by 1 / (1 - p); dropped
// elements are 0.
#include <cstdint>

#include "core/philox.h"
#include "core/random.h"
#include "core/tensor.h"

namespace engram {

// In training with p > 0, draws one stream from gen and applies the mask; in
// eval, or with p == 0, returns x itself. p outside [0, 1) is a ValueError.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

// The coordinates of one dropout mask.
struct DropoutMask {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint32_t threshold = 0;  // in units of 2^-24; an element is dropped with probability threshold / 2^24
};

uint32_t dropout_threshold(double p);

// The keep rule, shared by both backends. `bits` = Philox(seed, stream, i / 4).
ENGRAM_HOST_DEVICE bool dropout_keeps(const philox::Uint4& bits, int word, uint32_t threshold) {
  uint32_t w = word == 0 ? bits.x : word == 1 ? bits.y : word == 2 ? bits.z : bits.w;
  return (w >> 8) >= threshold;
}

// Backends: out = x * scale where the mask keeps an element, else 0. Used for
// the forward pass and, with the same mask, for the backward pass. `out` may alias `x`.
namespace cpu {
void dropout(const Tensor& x, const DropoutMask& mask, double scale, const Tensor& out);
}
namespace cuda {
void dropout(const Tensor& x, const DropoutMask& mask, double scale, const Tensor& out);
}

}  // namespace engram
