// Convolution section of bench_kernels: engram's implicit-GEMM kernels
// against cuDNN (FP32 FMA math) on every distinct conv layer of ResNet-18
// (CIFAR variant) at batch 128, for the forward pass, the data gradient and
// the weight gradient. Each record holds both timings from the same run,
// GFLOP/s (2 * N * C_out * H_out * W_out * C_in/groups * KH * KW per pass),
// the native/cuDNN throughput ratio, and how closely the two results agree.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "benchmarks/kernel_benchmarks.h"
#include "core/random.h"
#include "kernels/conv2d.h"

namespace engram::bench {

namespace {

struct ConvLayer {
  const char* name;
  int64_t in_channels, out_channels, size, kernel, stride;
  bool quick;  // part of the --quick subset
};

const ConvLayer kResNet18Layers[] = {
    {"stem 3x3 3->64 32x32", 3, 64, 32, 3, 1, false},       {"layer1 3x3 64->64 32x32", 64, 64, 32, 3, 1, true},
    {"layer2 3x3 64->128 s2", 64, 128, 32, 3, 2, false},    {"layer2 3x3 128->128 16x16", 128, 128, 16, 3, 1, true},
    {"layer3 3x3 128->256 s2", 128, 256, 16, 3, 2, true},   {"layer3 3x3 256->256 8x8", 256, 256, 8, 3, 1, false},
    {"layer4 3x3 256->512 s2", 256, 512, 8, 3, 2, false},   {"layer4 3x3 512->512 4x4", 512, 512, 4, 3, 1, true},
    {"shortcut 1x1 64->128 s2", 64, 128, 32, 1, 2, false},  {"shortcut 1x1 128->256 s2", 128, 256, 16, 1, 2, true},
    {"shortcut 1x1 256->512 s2", 256, 512, 8, 1, 2, false},
};

constexpr int64_t kBatch = 128;

// max |native - vendor| / max |vendor|: 1e-6 .. 1e-5 is FP32 rounding, anything near 1 is a bug.
[[maybe_unused]] double relative_difference(const Tensor& native, const Tensor& vendor) {
  std::vector<float> a = native.to_vector<float>(), b = vendor.to_vector<float>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

void run_conv_benchmarks(nlohmann::json& out, bool quick) {
  if (!out.is_array()) out = nlohmann::json::array();
  Generator gen(2024);
  Device gpu = Device::cuda();
  std::vector<double> log_ratios[3];  // 3x3 layers, per pass
  const char* pass_names[3] = {"forward", "dgrad", "wgrad"};
  for (const ConvLayer& layer : kResNet18Layers) {
    if (quick && !layer.quick) continue;
    Conv2dParams params = Conv2dParams::square(layer.stride, layer.kernel / 2);
    Shape x_shape{kBatch, layer.in_channels, layer.size, layer.size};
    Shape w_shape{layer.out_channels, layer.in_channels, layer.kernel, layer.kernel};
    Conv2dGeometry g = conv2d_geometry("bench_conv", x_shape, w_shape, params);
    Shape y_shape{kBatch, layer.out_channels, g.out_height, g.out_width};
    Tensor x = random::normal(x_shape, 0, 1, gen, DType::f32, gpu);
    Tensor w = random::normal(w_shape, 0, 1, gen, DType::f32, gpu);
    Tensor gy = random::normal(y_shape, 0, 1, gen, DType::f32, gpu);
    // Index 0: native result, 1: cuDNN result.
    Tensor results[3][2];
    for (int v = 0; v < 2; ++v) {
      results[0][v] = Tensor::empty(y_shape, DType::f32, gpu);
      results[1][v] = Tensor::empty(x_shape, DType::f32, gpu);
      results[2][v] = Tensor::empty(w_shape, DType::f32, gpu);
    }
    for (int pass = 0; pass < 3; ++pass) {
      auto run = [&](int v) {
        const Tensor& r = results[pass][v];
        if (v == 0) {
          if (pass == 0) cuda::conv2d_forward(x, w, Tensor(), params, r);
          if (pass == 1) cuda::conv2d_backward_data(gy, w, params, r);
          if (pass == 2) cuda::conv2d_backward_weight(gy, x, params, r);
        } else {
#if ENGRAM_HAS_CUDNN
          if (pass == 0) vendor::conv2d_forward(x, w, Tensor(), params, r);
          if (pass == 1) vendor::conv2d_backward_data(gy, w, params, r);
          if (pass == 2) vendor::conv2d_backward_weight(gy, x, params, r);
#endif
        }
      };
      Timing native = time_cuda([&] { run(0); });
      nlohmann::json record;
#if ENGRAM_HAS_CUDNN
      Timing vendor = time_cuda([&] { run(1); });
      record = compare(g.flops(), native, vendor);
      record["max_rel_diff"] = relative_difference(results[pass][0], results[pass][1]);
      if (layer.kernel == 3) log_ratios[pass].push_back(std::log(record["ratio"].get<double>()));
#else
      record = {{"native_ms", native.median_ms}, {"native_gflops", g.flops() / (native.median_ms * 1e6)}};
#endif
      record["layer"] = layer.name;
      record["pass"] = pass_names[pass];
      record["batch"] = kBatch;
      record["x"] = x_shape;
      record["weight"] = w_shape;
      record["stride"] = layer.stride;
      record["padding"] = layer.kernel / 2;
      out.push_back(record);
    }
  }
  for (int pass = 0; pass < 3; ++pass) {
    if (log_ratios[pass].empty()) continue;
    double mean = 0;
    for (double r : log_ratios[pass]) mean += r / static_cast<double>(log_ratios[pass].size());
    out.push_back(
        {{"layer", "resnet18 3x3 layers (geometric mean)"}, {"pass", pass_names[pass]}, {"ratio", std::exp(mean)}});
  }
}

}  // namespace engram::bench
