#include <catch2/catch.hpp>

#include "tests/cases/elementwise.h"
#include "tests/support/checks.h"

using namespace engram;

TEST_CASE("elementwise ops: CUDA matches the CPU reference", "[elementwise][cuda]") {
  for (const auto& op_case : testing::elementwise_cases()) {
    auto result = testing::parity(op_case);
    INFO(result.report);
    CHECK(result.ok);
  }
}
