#include "tests/support/op_registry.h"

#include "tests/cases/batchnorm.h"
#include "tests/cases/conv2d.h"
#include "tests/cases/dropout.h"
#include "tests/cases/elementwise.h"
#include "tests/cases/loss.h"
#include "tests/cases/matmul.h"
#include "tests/cases/pool.h"
#include "tests/cases/reduce.h"
#include "tests/cases/shape_ops.h"
#include "tests/cases/softmax.h"

namespace engram::testing {

const std::vector<OpFamilyCases>& op_families() {
  // Fields in order: name, cases, vendor family, vendor tolerance scale,
  // vendor runs non-finite cases, f32 vs f64 on the CPU, its element limit.
  static const std::vector<OpFamilyCases> families{
      {"elementwise", elementwise_cases},
      {"matmul", matmul_cases, OpFamily::gemm},  // matmul and linear
      {"conv2d", conv2d_cases, OpFamily::conv, 4.0, /*vendor_non_finite=*/false},
      {"batchnorm", batchnorm_cases, OpFamily::batchnorm},
      {"pool", pool_cases},
      {"softmax", softmax_cases},
      {"loss", loss_cases},
      {"reduce", reduce_cases, std::nullopt, 1.0, true, /*f32_vs_f64=*/true, int64_t{1} << 20},
      {"dropout", dropout_cases, std::nullopt, 1.0, true, /*f32_vs_f64=*/true},
      {"shape_ops", shape_ops_cases, std::nullopt, 1.0, true, /*f32_vs_f64=*/true},
  };
  return families;
}

}  // namespace engram::testing
