#pragma once
// One table of op cases drives every check of an op (in the spirit of ggml's
// test-backend-ops): the CPU gradient check in double, and the CPU-vs-CUDA
// parity of outputs and gradients. A family's cases live in
// tests/cases/<family>.cpp and are used by tests/cpu and tests/cuda alike.
#include <functional>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace engram::testing {

struct OpCase {
  std::string name;  // e.g. "conv2d 3x3 s2 p1 [2,3,7,7]"
  // Builds the inputs in the given dtype on the CPU. Inputs meant to be
  // differentiated must have requires_grad set; others (labels, indices) not.
  std::function<std::vector<Tensor>(DType dtype, Generator& gen)> make_inputs;
  std::function<Tensor(const std::vector<Tensor>& inputs)> run;
  double gradcheck_tolerance = 1e-6;  // relative error, f64 central differences
  double parity_tolerance = 1e-4;     // normalised error, f32 CPU vs CUDA
  bool check_gradients = true;        // false for ops without a backward (argmax, ...)
};

// Inputs drawn from N(0, 1) for each shape, all requiring grad.
std::function<std::vector<Tensor>(DType, Generator&)> normal_inputs(std::vector<Shape> shapes);

}  // namespace engram::testing
