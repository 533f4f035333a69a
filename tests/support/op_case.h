#pragma once
// One table of op cases drives every check of an op (in the spirit of ggml's
// test-backend-ops): the CPU gradient check in double, and the CPU-vs-CUDA
// parity of outputs and gradients. A family's cases live in
// tests/cases/<family>.cpp; tests/support/op_registry.cpp lists the families
// once, and tests/ops/test_op_gradcheck.cpp and tests/ops/test_op_parity.cpp
// run every case of every family.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace engram::testing {

// Builds a case's inputs in the given dtype on the CPU.
using MakeInputs = std::function<std::vector<Tensor>(DType dtype, Generator& gen)>;

struct OpCase {
  std::string name;  // e.g. "conv2d 3x3 s2 p1 [2,3,7,7]"; unique across all families
  // Builds the inputs in the given dtype on the CPU. Inputs meant to be
  // differentiated must have requires_grad set; others (labels, indices) not.
  MakeInputs make_inputs;
  std::function<Tensor(const std::vector<Tensor>& inputs)> run;
  double gradcheck_tolerance = 1e-6;  // relative error, f64 central differences
  double parity_tolerance = 1e-4;     // normalised error, f32 CPU vs CUDA
  bool check_gradients = true;        // false for ops without a backward (argmax, ...)
  // Too large (or pointless: empty tensors, non-finite inputs) for the f64
  // gradient check: CPU-vs-CUDA parity (and f32-vs-f64 where the family has
  // it) only.
  bool parity_only = false;
  // The CUDA copies of the inputs (and of the output gradient) start 4 bytes
  // past a 16-byte boundary, so that kernels with float4 paths take their
  // scalar ones on shapes that would otherwise allow float4.
  bool unaligned_inputs = false;
  // Some inputs hold NaN / +-Inf (set by non_finite() below).
  bool non_finite_inputs = false;
};

// Inputs drawn from N(0, 1) for each shape, all requiring grad.
MakeInputs normal_inputs(std::vector<Shape> shapes);

// The inputs of `builder` with NaN at element 0, +Inf at element `spacing`
// and -Inf at element 2 * spacing of each floating input that has more than
// 2 * spacing elements (only the inputs listed in `only`, when not empty).
// Integer inputs (labels) are left alone; requires_grad is kept.
MakeInputs with_non_finite(MakeInputs builder, int64_t spacing = 1, std::vector<size_t> only = {});

// Marks a case parity-only.
OpCase parity_only(OpCase c);
// The case with NaN / +Inf / -Inf in its inputs (see with_non_finite),
// renamed and parity-only: outputs and gradients must put NaN and +-Inf where
// the CPU reference puts them.
OpCase non_finite(OpCase c, int64_t spacing = 1, std::vector<size_t> only = {});
// The case with misaligned CUDA inputs (see OpCase::unaligned_inputs),
// renamed and parity-only.
OpCase unaligned(OpCase c);

}  // namespace engram::testing
