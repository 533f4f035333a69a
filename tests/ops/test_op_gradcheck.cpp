// The CPU half of the op-case harness (in the spirit of ggml's
// test-backend-ops): every case of every op family in tests/support/op_registry.h
// has its autograd gradients checked against central differences in f64,
// except the parity-only ones; families that ask for it also compare their
// parity-only cases between f32 and f64 on the CPU. One Catch2 section per
// family: `test_op_gradcheck -c matmul` runs one family.
//
// The closed-form, error and special-purpose tests of each op stay in
// tests/cpu/test_<family>.cpp; the CUDA half is tests/ops/test_op_parity.cpp.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "tests/support/checks.h"
#include "tests/support/op_registry.h"

using namespace engram;

TEST_CASE("op cases have unique names and every family has gradient-checked cases", "[ops]") {
  std::set<std::string> names;
  for (const testing::OpFamilyCases& family : testing::op_families()) {
    INFO("family " << family.name);
    std::vector<testing::OpCase> cases = family.cases();
    size_t gradient_checked = 0;
    for (const testing::OpCase& c : cases) {
      if (!names.insert(c.name).second) FAIL_CHECK("two cases are named \"" << c.name << "\"");
      if (!c.parity_only && c.check_gradients) ++gradient_checked;
    }
    CHECK(gradient_checked > 0);
  }
}

TEST_CASE("every op's gradients match central differences in double", "[ops][gradcheck]") {
  for (const testing::OpFamilyCases& family : testing::op_families()) {
    DYNAMIC_SECTION(family.name) {
      for (const testing::OpCase& c : family.cases()) {
        if (c.parity_only || !c.check_gradients) continue;
        testing::CheckResult result = testing::without_throwing(c.name, [&] { return testing::gradcheck(c); });
        INFO(result.report);
        CHECK(result.ok);
      }
    }
  }
}

TEST_CASE("parity-only op cases agree between f32 and f64 on the CPU", "[ops][f32]") {
  for (const testing::OpFamilyCases& family : testing::op_families()) {
    if (!family.f32_vs_f64) continue;
    DYNAMIC_SECTION(family.name) {
      for (const testing::OpCase& c : family.cases()) {
        if (!c.parity_only) continue;
        testing::CheckResult result = testing::without_throwing(
            c.name, [&] { return testing::f32_matches_f64(c, family.f32_vs_f64_max_elements); });
        INFO(result.report);
        CHECK(result.ok);
      }
    }
  }
}
