#include "tests/cases/conv2d.h"

#include <algorithm>
#include <cmath>

namespace engram::testing {

namespace {

std::string params_str(const Conv2dParams& p) {
  std::string s;
  auto pair = [](int64_t h, int64_t w) {
    return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
  };
  if (p.stride_h != 1 || p.stride_w != 1) s += " s" + pair(p.stride_h, p.stride_w);
  if (p.pad_h != 0 || p.pad_w != 0) s += " p" + pair(p.pad_h, p.pad_w);
  if (p.dilation_h != 1 || p.dilation_w != 1) s += " d" + pair(p.dilation_h, p.dilation_w);
  if (p.groups != 1) s += " g" + std::to_string(p.groups);
  return s;
}

// f32 rounding grows with the length of the longest sum among the three
// passes (forward: C_in/g*KH*KW, dgrad: C_out/g*KH*KW, wgrad: N*H_out*W_out)
// and with the magnitude of its N(0,1) x N(0,1) terms, ~sqrt(length). The
// tolerance (used as both atol and rtol) follows sqrt(length); an indexing
// bug gives errors of order 1, far above it.
double parity_tolerance_for(const Conv2dGeometry& g) {
  int64_t taps = g.kernel_h * g.kernel_w;
  int64_t longest = std::max(
      {g.in_channels_per_group() * taps, g.out_channels_per_group() * taps, g.batch * g.out_height * g.out_width});
  return std::max(1e-4, 2e-5 * std::sqrt(static_cast<double>(longest)));
}

}  // namespace

OpCase conv2d_case(const std::string& label, const Shape& x_shape, const Shape& weight_shape,
                   const Conv2dParams& params, bool with_bias) {
  Conv2dGeometry g = conv2d_geometry("conv2d_case", x_shape, weight_shape, params);
  std::vector<Shape> shapes{x_shape, weight_shape};
  if (with_bias) shapes.push_back({weight_shape[0]});
  OpCase c;
  c.name = "conv2d " + label + " x" + shape_str(x_shape) + " w" + shape_str(weight_shape) + params_str(params) +
           (with_bias ? " +bias" : "");
  c.make_inputs = normal_inputs(shapes);
  c.run = [params, with_bias](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], with_bias ? in[2] : Tensor(), params);
  };
  c.parity_tolerance = parity_tolerance_for(g);
  return c;
}

std::vector<Conv2dShapeCase> conv2d_small_shapes() {
  using P = Conv2dParams;
  P stride2_asym{2, 1, 0, 1, 1, 2, 1};  // stride 2x1, pad 0x1, dilation 1x2
  return {
      {"3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, P::square(1, 1), true},
      {"3x3 no pad", {2, 2, 6, 5}, {3, 2, 3, 3}, P::square(1, 0), false},
      {"3x3 stride 2 odd", {1, 3, 7, 7}, {2, 3, 3, 3}, P::square(2, 1), true},
      {"3x3 stride 2 even", {2, 2, 6, 6}, {3, 2, 3, 3}, P::square(2, 1), false},
      {"3x3 stride 2 no pad", {2, 2, 7, 6}, {2, 2, 3, 3}, P::square(2, 0), false},
      {"3x3 dilation 2", {1, 2, 7, 7}, {3, 2, 3, 3}, P::square(1, 2, 2), true},
      {"3x3 dilation 2 stride 2", {2, 1, 7, 6}, {2, 1, 3, 3}, P::square(2, 1, 2), false},
      {"2x3 asymmetric", {1, 2, 7, 5}, {3, 2, 2, 3}, stride2_asym, true},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, P::square(1, 1, 1, 2), true},
      {"groups 2 stride 2", {1, 4, 7, 7}, {2, 2, 3, 3}, P::square(2, 1, 1, 2), false},
      {"depthwise", {2, 3, 6, 6}, {3, 1, 3, 3}, P::square(1, 1, 1, 3), true},
      {"depthwise x2 stride 2", {1, 3, 7, 7}, {6, 1, 3, 3}, P::square(2, 1, 1, 3), false},
      {"depthwise dilation 2", {1, 4, 7, 7}, {4, 1, 3, 3}, P::square(1, 2, 2, 4), true},
      {"depthwise 5x5 stride 2", {2, 2, 7, 5}, {2, 1, 5, 5}, P::square(2, 2, 1, 2), false},
      {"1x1", {2, 5, 5, 5}, {3, 5, 1, 1}, P::square(1, 0), true},
      {"1x1 stride 2", {1, 4, 7, 7}, {3, 4, 1, 1}, P::square(2, 0), false},
      {"1x1 padded", {1, 3, 4, 5}, {2, 3, 1, 1}, P::square(1, 1), false},
      {"1x1 map", {1, 3, 1, 1}, {2, 3, 1, 1}, P::square(1, 0), true},
      {"3x3 on 1x1 map", {2, 2, 1, 1}, {3, 2, 3, 3}, P::square(1, 1), false},
      {"kernel covers input", {1, 2, 3, 3}, {2, 2, 3, 3}, P::square(1, 0), true},
      {"5 to 7 channels", {1, 5, 5, 6}, {7, 5, 3, 3}, P::square(1, 1), true},
      {"7x7 kernel on 7x7", {1, 1, 7, 7}, {2, 1, 7, 7}, P::square(1, 3), false},
      {"1 channel", {2, 1, 5, 5}, {1, 1, 3, 3}, P::square(1, 1), true},
      {"stride 3 dilation 2", {1, 4, 11, 10}, {5, 4, 3, 3}, P::square(3, 2, 2), false},
      {"stride 5", {1, 3, 12, 12}, {4, 3, 3, 3}, P::square(5, 1), true},
      {"5x5 stride 2 dilation 2", {1, 3, 12, 11}, {4, 3, 5, 5}, P{2, 2, 3, 1, 2, 2, 1}, false},
  };
}

std::vector<Conv2dShapeCase> conv2d_medium_shapes() {
  using P = Conv2dParams;
  return {
      // Sizes that are not multiples of any tile: M, N and K tails, H*W not a multiple of 4.
      {"odd tails", {3, 7, 13, 11}, {37, 7, 3, 3}, P::square(1, 1), true},
      {"5x5 stride 2", {1, 19, 9, 9}, {130, 19, 5, 5}, P::square(2, 2), false},
      {"wide C_in", {2, 130, 6, 6}, {20, 130, 3, 3}, P::square(1, 1), true},
      {"long wgrad sum", {16, 16, 16, 16}, {16, 16, 3, 3}, P::square(1, 1), false},
      {"dilation 2 stride 2", {2, 24, 15, 17}, {40, 24, 3, 3}, P::square(2, 2, 2), false},
      {"groups 4", {2, 32, 9, 9}, {64, 8, 3, 3}, P::square(1, 1, 1, 4), true},
      {"1x1 gemm path", {2, 64, 16, 16}, {128, 64, 1, 1}, P::square(1, 0), true},
      {"1x1 gemm path odd", {3, 5, 7, 7}, {9, 5, 1, 1}, P::square(1, 0), false},
      {"1x1 groups 2", {2, 8, 5, 5}, {6, 4, 1, 1}, P::square(1, 0, 1, 2), false},
      {"depthwise 3x3", {2, 32, 15, 15}, {32, 1, 3, 3}, P::square(1, 1, 1, 32), true},
      {"depthwise x2 stride 2", {2, 16, 14, 14}, {32, 1, 3, 3}, P::square(2, 1, 1, 16), false},
      {"depthwise 7x7", {1, 8, 12, 12}, {8, 1, 7, 7}, P::square(1, 3, 1, 8), true},
  };
}

namespace {

std::vector<OpCase> to_cases(const std::vector<Conv2dShapeCase>& shapes) {
  std::vector<OpCase> cases;
  for (const Conv2dShapeCase& s : shapes)
    cases.push_back(conv2d_case(s.label, s.x_shape, s.weight_shape, s.params, s.bias));
  return cases;
}

}  // namespace

std::vector<Conv2dShapeCase> resnet18_conv_shapes(int64_t batch) {
  using P = Conv2dParams;
  return {
      {"resnet18 stem", {batch, 3, 32, 32}, {64, 3, 3, 3}, P::square(1, 1), false},
      {"resnet18 layer1", {batch, 64, 32, 32}, {64, 64, 3, 3}, P::square(1, 1), false},
      {"resnet18 layer2 down", {batch, 64, 32, 32}, {128, 64, 3, 3}, P::square(2, 1), false},
      {"resnet18 layer2", {batch, 128, 16, 16}, {128, 128, 3, 3}, P::square(1, 1), false},
      {"resnet18 layer3 down", {batch, 128, 16, 16}, {256, 128, 3, 3}, P::square(2, 1), false},
      {"resnet18 layer3", {batch, 256, 8, 8}, {256, 256, 3, 3}, P::square(1, 1), false},
      {"resnet18 layer4 down", {batch, 256, 8, 8}, {512, 256, 3, 3}, P::square(2, 1), false},
      {"resnet18 layer4", {batch, 512, 4, 4}, {512, 512, 3, 3}, P::square(1, 1), false},
      {"resnet18 shortcut2", {batch, 64, 32, 32}, {128, 64, 1, 1}, P::square(2, 0), false},
      {"resnet18 shortcut3", {batch, 128, 16, 16}, {256, 128, 1, 1}, P::square(2, 0), false},
      {"resnet18 shortcut4", {batch, 256, 8, 8}, {512, 256, 1, 1}, P::square(2, 0), false},
  };
}

namespace {

// Shapes beyond conv2d_small_shapes() that reach more of the CUDA kernels'
// paths, small enough for the gradient check.
std::vector<Conv2dShapeCase> conv2d_edge_shapes() {
  using P = Conv2dParams;
  return {
      // H*W, P*Q and C*R*S all multiples of 4: the float4 stores of all three passes.
      {"3x3 on 8x8, every vector store", {2, 4, 8, 8}, {4, 4, 3, 3}, P::square(1, 1), true},
      // The data gradient's stride phases: one without input pixels, 16 in one launch, 5 along W only.
      {"3x3 stride 2 on 1x1 map", {2, 2, 1, 1}, {3, 2, 3, 3}, P::square(2, 1), false},
      {"3x3 stride 4", {1, 2, 9, 9}, {3, 2, 3, 3}, P::square(4, 1), true},
      {"3x3 stride 1x5 dilation 2x1", {1, 3, 6, 13}, {2, 3, 3, 3}, P{1, 5, 1, 1, 2, 1, 1}, false},
      {"padding 2 on a 3x3 kernel", {1, 2, 3, 3}, {2, 2, 3, 3}, P::square(1, 2), true},
      {"5x1 kernel", {2, 2, 9, 4}, {3, 2, 5, 1}, P{1, 1, 2, 0, 1, 1, 1}, false},
      {"groups 4, one filter each", {2, 8, 5, 5}, {4, 2, 3, 3}, P::square(1, 1, 1, 4), true},
      {"one output channel", {1, 3, 5, 5}, {1, 3, 3, 3}, P::square(1, 1), true},
      {"depthwise stride 2x1 on 7x9", {2, 3, 7, 9}, {3, 1, 3, 3}, P{2, 1, 1, 1, 1, 1, 3}, true},
      {"depthwise 1x1 x2", {2, 4, 3, 3}, {8, 1, 1, 1}, P::square(1, 0, 1, 4), false},
      // The 1x1 GEMM path with 16-byte loads and a float4 epilogue (H*W = 16, C = 8).
      {"1x1 gemm path float4", {2, 8, 4, 4}, {4, 8, 1, 1}, P::square(1, 0), true},
  };
}

OpCase case_of(const Conv2dShapeCase& s) { return conv2d_case(s.label, s.x_shape, s.weight_shape, s.params, s.bias); }

}  // namespace

std::vector<OpCase> conv2d_cases() {
  using P = Conv2dParams;
  std::vector<OpCase> cases = to_cases(conv2d_small_shapes());
  for (OpCase& c : to_cases(conv2d_edge_shapes())) cases.push_back(std::move(c));
  // Parity only: tile tails, 1x1, groups and depthwise with many channels, and
  // every ResNet-18 layer at batch 2.
  for (OpCase& c : to_cases(conv2d_medium_shapes())) cases.push_back(parity_only(std::move(c)));
  for (OpCase& c : to_cases(resnet18_conv_shapes(2))) cases.push_back(parity_only(std::move(c)));
  // A batch of 0: the implicit GEMM (N = 0 output columns), the 1x1 GEMM path, depthwise.
  for (const Conv2dShapeCase& s :
       std::vector<Conv2dShapeCase>{{"3x3 batch 0", {0, 3, 5, 5}, {4, 3, 3, 3}, P::square(1, 1), true},
                                    {"3x3 stride 2 batch 0", {0, 2, 7, 7}, {2, 2, 3, 3}, P::square(2, 1), false},
                                    {"1x1 gemm path batch 0", {0, 4, 5, 5}, {3, 4, 1, 1}, P::square(1, 0), true},
                                    {"depthwise batch 0", {0, 3, 6, 6}, {3, 1, 3, 3}, P::square(1, 1, 1, 3), true}})
    cases.push_back(parity_only(case_of(s)));
  // Misaligned x and weight on the 1x1 GEMM path: its scalar loads.
  cases.push_back(unaligned(case_of({"1x1 gemm path", {2, 8, 4, 4}, {4, 8, 1, 1}, P::square(1, 0), true})));
  // NaN, +Inf, -Inf in x (the weight stays finite, so that zero padding times
  // the weight stays 0 on every path): outputs whose window covers them, and
  // the weight gradient.
  for (const Conv2dShapeCase& s :
       std::vector<Conv2dShapeCase>{{"3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, P::square(1, 1), true},
                                    {"3x3 stride 2", {1, 3, 7, 7}, {2, 3, 3, 3}, P::square(2, 1), false},
                                    {"1x1 gemm path", {2, 4, 4, 4}, {3, 4, 1, 1}, P::square(1, 0), true},
                                    {"depthwise", {2, 3, 6, 6}, {3, 1, 3, 3}, P::square(1, 1, 1, 3), true}})
    cases.push_back(non_finite(case_of(s), 7, {0}));
  return cases;
}

}  // namespace engram::testing
