#pragma once
// Numerical checks shared by the test programs.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {

// The message of the E that f() throws ("" if it throws nothing; another
// exception type propagates and fails the test).
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

struct CheckResult {
  bool ok = true;
  double worst = 0;    // largest error seen, in the check's own unit
  std::string report;  // what was compared and where it failed
};

// Largest |a - b| / (atol + rtol * |b|) over all elements (1 means "at the
// tolerance"); shapes must agree. Works for tensors on any device.
double normalised_error(const Tensor& actual, const Tensor& expected, double atol, double rtol);
// True when every element matches within |a - b| <= atol + rtol * |b|.
bool allclose(const Tensor& actual, const Tensor& expected, double atol = 1e-6, double rtol = 1e-5);

// Compares autograd's gradients with central differences, in double: the
// case's inputs are made in f64, the output is reduced as sum(out * w) with a
// fixed random w so that every output element carries a distinct weight.
CheckResult gradcheck(const OpCase& op_case, uint64_t seed = 1234, double eps = 1e-6);

// Runs the case in f32 on the CPU and on CUDA with identical inputs and
// compares outputs and every input gradient (normalised error, the case's
// parity tolerance).
CheckResult parity(const OpCase& op_case, uint64_t seed = 1234);

// The same comparison between f32 and f64 on the CPU: runs a case meant for
// the GPU on the CPU too, so that a parity failure there points at the
// kernel, not at the table. Cases with more than max_elements input elements
// are not run (and reported ok).
CheckResult f32_matches_f64(const OpCase& op_case, int64_t max_elements = INT64_MAX, uint64_t seed = 1234);

}  // namespace engram::testing
