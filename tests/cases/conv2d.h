#pragma once
#include <vector>

#include "kernels/conv2d.h"
#include "tests/support/op_case.h"

namespace engram::testing {

// Every conv2d case. Gradient-checked on the CPU in f64 and compared CPU vs
// CUDA in f32: small convolutions covering every code path (stride,
// padding, dilation, groups, depthwise, 1x1, odd and non-square sizes, with
// and without bias, every stride-phase layout of the data gradient, the
// float4 stores of all three passes). Parity only: medium sizes (tile tails
// in every GEMM dimension, the 1x1 GEMM path, grouped and depthwise
// convolutions with many channels), every ResNet-18 layer at batch 2, a batch
// of 0, misaligned inputs and NaN / +-Inf inputs.
std::vector<OpCase> conv2d_cases();

// One convolution's shapes and parameters.
struct Conv2dShapeCase {
  std::string label;
  Shape x_shape, weight_shape;
  Conv2dParams params;
  bool bias = false;
};

// The shapes behind the small (gradient-checked) and the medium cases of
// conv2d_cases(); tests/cpu/test_conv2d_emulation.cpp runs them too.
std::vector<Conv2dShapeCase> conv2d_small_shapes();
std::vector<Conv2dShapeCase> conv2d_medium_shapes();

// Every distinct conv layer of ResNet-18 (CIFAR variant) at the given batch.
std::vector<Conv2dShapeCase> resnet18_conv_shapes(int64_t batch);

// One case: input [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW].
OpCase conv2d_case(const std::string& label, const Shape& x_shape, const Shape& weight_shape,
                   const Conv2dParams& params, bool with_bias);

}  // namespace engram::testing
