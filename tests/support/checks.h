#pragma once
// Numerical checks shared by the test programs.
#include <cstdint>
#include <functional>
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
// Non-finite values must match exactly: where expected is NaN, actual must be
// NaN (and vice versa); where expected is +Inf or -Inf, actual must equal it
// (and vice versa). A mismatch gives INFINITY; matching non-finite elements
// count as error 0.
double normalised_error(const Tensor& actual, const Tensor& expected, double atol, double rtol);
// True when every element matches within |a - b| <= atol + rtol * |b|, and
// NaN / +-Inf sit at the same places.
bool allclose(const Tensor& actual, const Tensor& expected, double atol = 1e-6, double rtol = 1e-5);

// Compares autograd's gradients with central differences, in double: the
// case's inputs are made in f64, the output is reduced as sum(out * w) with a
// fixed random w so that every output element carries a distinct weight.
CheckResult gradcheck(const OpCase& op_case, uint64_t seed = 1234, double eps = 1e-6);

// Runs the case in f32 on the CPU and on CUDA with identical inputs and
// compares outputs and every input gradient (normalised error, the case's
// parity tolerance). Runs on whatever backend the op families are set to.
CheckResult parity(const OpCase& op_case, uint64_t seed = 1234);

// The same comparison between f32 and f64 on the CPU: runs a case meant for
// the GPU on the CPU too, so that a parity failure there points at the
// kernel, not at the table. Cases with more than max_elements input elements
// are not run (and reported ok).
CheckResult f32_matches_f64(const OpCase& op_case, int64_t max_elements = INT64_MAX, uint64_t seed = 1234);

#if ENGRAM_CUDA_HOST
// Host runtime only (the CUDA kernels run on the CPU, with a chosen order of
// blocks and threads): runs the case on CUDA under the in-order and reversed
// schedules (and a shuffled one for cases of at most 4096 input elements) and
// requires the output, every input gradient and every input the op updates in
// place to be bitwise identical. A deterministic kernel cannot tell the
// schedules apart; a difference is a race, reported as
// "race in <case>: output differs between schedules in-order and reversed at element i".
CheckResult schedule_invariance(const OpCase& op_case, uint64_t seed = 1234);
#endif

// Runs check(); an exception becomes a failed result naming `what`, so that
// one throwing case does not stop the cases after it.
CheckResult without_throwing(const std::string& what, const std::function<CheckResult()>& check);

}  // namespace engram::testing
