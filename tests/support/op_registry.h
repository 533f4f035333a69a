#pragma once
// Every op family of tests/cases, listed once: the harness programs
// (tests/ops/test_op_gradcheck.cpp, tests/ops/test_op_parity.cpp) run every
// case of every family from this list. Adding an op to the suite is adding
// its cases to its family's table, or one line here for a new family.
//
// The batch kernel (tests/cases/batch.h) is not here: its cases are not op
// cases (no gradients; CUDA must equal the CPU bit for bit), and
// tests/cpu/test_batch.cpp and tests/cuda/test_batch.cpp run them.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "tests/support/op_case.h"

namespace engram::testing {

struct OpFamilyCases {
  std::string name;                            // "matmul": also the Catch2 section of the family
  std::function<std::vector<OpCase>()> cases;  // every case; OpCase::parity_only marks those not gradient-checked
  // The dispatch family whose vendor twin (cuBLAS, cuDNN) runs these cases
  // too, where the build has it; none for ops engram alone implements.
  std::optional<OpFamily> vendor = std::nullopt;
  // The vendor's parity tolerance relative to the case's: cuDNN may pick
  // Winograd or FFT algorithms whose rounding differs from a direct sum.
  double vendor_tolerance_scale = 1.0;
  // Whether the vendor runs the cases with NaN / +-Inf inputs too. Not for
  // cuDNN's convolutions: its Winograd and FFT algorithms mix neighbouring
  // inputs, so an Inf becomes NaN in outputs whose window does not hold it.
  bool vendor_non_finite = true;
  // Whether the parity-only cases are also compared f32 vs f64 on the CPU
  // (so that a parity failure points at the kernel, not at the table), and up
  // to how many input elements.
  bool f32_vs_f64 = false;
  int64_t f32_vs_f64_max_elements = INT64_MAX;
};

const std::vector<OpFamilyCases>& op_families();

}  // namespace engram::testing
