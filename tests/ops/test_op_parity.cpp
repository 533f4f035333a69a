// The CUDA half of the op-case harness: every case of every op family in
// tests/support/op_registry.h runs in f32 on the CPU and on CUDA, with engram's
// kernels and, for families with a vendor twin this build has (cuBLAS,
// cuDNN), with the vendor's; outputs and every input gradient must agree
// within the case's tolerance, and NaN / +-Inf must come out where the CPU
// puts them. On the host runtime (ENGRAM_CUDA=HOST) every case also runs
// under several schedules of blocks and threads, and the results must be
// bitwise identical: a difference is a race. One Catch2 section per family:
// `test_op_parity -c conv2d` runs one family.
//
// Exits 77 (skipped) without a CUDA device (tests/support/cuda_main.cpp). The
// special-purpose CUDA tests (determinism, unaligned views, NaN labels, graph
// capture, errors, vendor-vs-native at full size) stay in tests/cuda.
#include <catch2/catch.hpp>
#include <optional>

#include "tests/support/backend_guard.h"
#include "tests/support/checks.h"
#include "tests/support/op_registry.h"

using namespace engram;

namespace {

void check_parity(const testing::OpFamilyCases& family, Backend b) {
  const double scale = b == Backend::vendor ? family.vendor_tolerance_scale : 1.0;
  for (testing::OpCase c : family.cases()) {
    if (b == Backend::vendor && c.non_finite_inputs && !family.vendor_non_finite) continue;
    c.parity_tolerance *= scale;
    testing::CheckResult result = testing::without_throwing(c.name, [&] { return testing::parity(c); });
    INFO(backend_name(b) << " backend: " << result.report);
    CHECK(result.ok);
  }
}

}  // namespace

TEST_CASE("every op case: CUDA matches the CPU reference on every backend", "[ops][parity][cuda]") {
  for (const testing::OpFamilyCases& family : testing::op_families()) {
    DYNAMIC_SECTION(family.name) {
      if (!family.vendor) {
        check_parity(family, Backend::native);
      } else {
        if (!vendor_available(*family.vendor))
          WARN(family.name << ": the vendor twin is not in this build; its parity did not run");
        for (Backend b : testing::available_backends(*family.vendor)) {
          testing::BackendGuard guard(*family.vendor, b);
          check_parity(family, b);
        }
      }
    }
  }
}

#if ENGRAM_CUDA_HOST
TEST_CASE("every op case: CUDA results do not depend on the host runtime's schedule", "[ops][schedules][cuda]") {
  for (const testing::OpFamilyCases& family : testing::op_families()) {
    DYNAMIC_SECTION(family.name) {
      std::optional<testing::BackendGuard> native;
      if (family.vendor) native.emplace(*family.vendor, Backend::native);
      for (const testing::OpCase& c : family.cases()) {
        testing::CheckResult result =
            testing::without_throwing(c.name, [&] { return testing::schedule_invariance(c); });
        INFO(result.report);
        CHECK(result.ok);
      }
    }
  }
}
#endif
