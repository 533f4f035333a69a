#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
std::vector<OpCase> elementwise_cases();
}
