#pragma once
#include <vector>

#include "kernels/conv2d.h"
#include "tests/support/op_case.h"

namespace engram::testing {

// Small convolutions covering every code path (stride, padding, dilation,
// groups, depthwise, 1x1, odd and non-square sizes, with and without bias):
// gradient-checked on the CPU in f64 and compared CPU vs CUDA in f32.
std::vector<OpCase> conv2d_cases();

// Medium sizes for CPU vs CUDA parity: tile tails in every GEMM dimension,
// the 1x1 GEMM path, grouped and depthwise convolutions with many channels.
std::vector<OpCase> conv2d_medium_cases();

// One convolution's shapes and parameters.
struct Conv2dShapeCase {
  std::string label;
  Shape x_shape, weight_shape;
  Conv2dParams params;
  bool bias = false;
};

// The shapes behind conv2d_cases() and conv2d_medium_cases().
std::vector<Conv2dShapeCase> conv2d_small_shapes();
std::vector<Conv2dShapeCase> conv2d_medium_shapes();

// Every distinct conv layer of ResNet-18 (CIFAR variant) at the given batch.
std::vector<Conv2dShapeCase> resnet18_conv_shapes(int64_t batch);

// The same layers as op cases (no bias): CPU vs CUDA parity at realistic
// channel counts (too large for gradcheck).
std::vector<OpCase> conv2d_resnet18_cases(int64_t batch);

// One case: input [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW].
OpCase conv2d_case(const std::string& label, const Shape& x_shape, const Shape& weight_shape,
                   const Conv2dParams& params, bool with_bias);

}  // namespace engram::testing
