// GEMM section of bench_kernels: engram's SGEMM (kernels/cuda/gemm.cu)
// against cuBLAS SGEMM with FP32 math (no TF32), timed in the same run on the
// same buffers. Shapes: square products, and every GEMM of ResNet-18 (CIFAR)
// at batch 128 that is a plain matrix product: the classifier's forward and
// two backward GEMMs, and the 1x1 stride-2 shortcut convolutions, both as one
// NHWC-style GEMM (M = N*H*W) for their three passes and as the batched
// per-image NCHW form (shared weight, stride 0). Each record carries the
// shape, the timings and throughput ratio (compare()), and max_rel_diff =
// max |native - cuBLAS| / max |cuBLAS| over the output: FP32 rounding is
// ~1e-6, a wrong result is ~1.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "benchmarks/kernel_benchmarks.h"
#include "core/random.h"
#include "kernels/gemm.h"

namespace engram::bench {

namespace {

struct GemmProblem {
  std::string name;
  GemmShape shape;
  bool quick;  // part of the --quick subset
};

GemmShape make_shape(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t batch = 1,
                     bool shared_a = false) {
  GemmShape s;
  s.trans_a = trans_a, s.trans_b = trans_b;
  s.m = m, s.n = n, s.k = k, s.batch = batch;
  s.stride_a = shared_a ? 0 : m * k;
  s.stride_b = k * n;
  s.stride_c = m * n;
  return s;
}

std::vector<GemmProblem> problems() {
  std::vector<GemmProblem> list;
  for (int64_t size : {1024, 2048, 4096, 8192})
    list.push_back({"square " + std::to_string(size) + " NN", make_shape(size, size, size, false, false),
                    size == 1024 || size == 4096});
  // The transposed layouts the backward passes use.
  list.push_back({"square 4096 NT", make_shape(4096, 4096, 4096, false, true), false});
  list.push_back({"square 4096 TN", make_shape(4096, 4096, 4096, true, false), false});

  // ResNet-18 classifier, y = x W^T + b with x [128, 512], W [100, 512].
  const int64_t batch = 128;
  list.push_back({"resnet18 fc forward x W^T [128,512]x[512,100]", make_shape(batch, 100, 512, false, true), true});
  list.push_back({"resnet18 fc dgrad dY W [128,100]x[100,512]", make_shape(batch, 512, 100, false, false), true});
  list.push_back({"resnet18 fc wgrad dY^T x [100,128]x[128,512]", make_shape(100, 512, batch, true, false), true});

  // 1x1 stride-2 shortcuts: output H*W, input channels, output channels.
  struct Shortcut {
    int64_t out_size, in_channels, out_channels;
  };
  for (Shortcut sc : {Shortcut{16, 64, 128}, Shortcut{8, 128, 256}, Shortcut{4, 256, 512}}) {
    const int64_t pixels = batch * sc.out_size * sc.out_size;  // M of the NHWC form
    const std::string tag = "resnet18 shortcut 1x1 " + std::to_string(sc.in_channels) + "->" +
                            std::to_string(sc.out_channels) + " s2 (M=128*" + std::to_string(sc.out_size) + "*" +
                            std::to_string(sc.out_size) + ")";
    // y [M, Cout] = x [M, Cin] W^T; dx [M, Cin] = dy W; dW [Cout, Cin] = dy^T x.
    list.push_back({tag + " forward", make_shape(pixels, sc.out_channels, sc.in_channels, false, true), true});
    list.push_back({tag + " dgrad", make_shape(pixels, sc.in_channels, sc.out_channels, false, false), false});
    list.push_back({tag + " wgrad", make_shape(sc.out_channels, sc.in_channels, pixels, true, false), false});
    // NCHW per image: y_n [Cout, HW] = W [Cout, Cin] x_n [Cin, HW], W shared by the batch.
    const int64_t hw = sc.out_size * sc.out_size;
    list.push_back({tag + " forward NCHW batched",
                    make_shape(sc.out_channels, hw, sc.in_channels, false, false, batch, true), false});
  }
  return list;
}

// Elements of a stored operand with batch stride `stride` (0: one matrix).
int64_t operand_elements(int64_t rows, int64_t cols, int64_t batch, int64_t stride) {
  return stride == 0 ? rows * cols : batch * rows * cols;
}

double relative_difference(const Tensor& native, const Tensor& vendor) {
  std::vector<float> a = native.to_vector<float>(), b = vendor.to_vector<float>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

void run_gemm_benchmarks(nlohmann::json& out, bool quick) {
  if (!out.is_array()) out = nlohmann::json::array();
  Generator gen(2025);
  const Device gpu = Device::cuda();
  std::vector<double> square_log_ratios, resnet_log_ratios;
  for (const GemmProblem& p : problems()) {
    if (quick && !p.quick) continue;
    const GemmShape& s = p.shape;
    Tensor a = random::normal({operand_elements(s.m, s.k, s.batch, s.stride_a)}, 0, 1, gen, DType::f32, gpu);
    Tensor b = random::normal({operand_elements(s.k, s.n, s.batch, s.stride_b)}, 0, 1, gen, DType::f32, gpu);
    Tensor c_native = Tensor::empty({s.batch * s.m * s.n}, DType::f32, gpu);
    Tensor c_vendor = Tensor::empty({s.batch * s.m * s.n}, DType::f32, gpu);
    auto run_native = [&] { cuda::gemm(s, 1.f, a.data<float>(), b.data<float>(), 0.f, c_native.data<float>()); };
    auto run_vendor = [&] { vendor::gemm(s, 1.f, a.data<float>(), b.data<float>(), 0.f, c_vendor.data<float>()); };
    const double flops = 2.0 * static_cast<double>(s.batch * s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    const int repeats = flops > 1e12 ? 5 : 20;
    Timing native = time_cuda(run_native, 3, repeats);
    Timing vendor = time_cuda(run_vendor, 3, repeats);

    nlohmann::json record = compare(flops, native, vendor);
    record["name"] = p.name;
    record["m"] = s.m;
    record["n"] = s.n;
    record["k"] = s.k;
    record["batch"] = s.batch;
    record["trans_a"] = s.trans_a;
    record["trans_b"] = s.trans_b;
    record["max_rel_diff"] = relative_difference(c_native, c_vendor);
    const double log_ratio = std::log(record["ratio"].get<double>());
    (p.name.rfind("square", 0) == 0 ? square_log_ratios : resnet_log_ratios).push_back(log_ratio);
    out.push_back(record);
  }
  auto geometric_mean = [](const std::vector<double>& logs) {
    double sum = 0;
    for (double l : logs) sum += l;
    return std::exp(sum / static_cast<double>(logs.size()));
  };
  if (!square_log_ratios.empty())
    out.push_back({{"name", "square (geometric mean)"}, {"ratio", geometric_mean(square_log_ratios)}});
  if (!resnet_log_ratios.empty())
    out.push_back({{"name", "resnet18 GEMMs (geometric mean)"}, {"ratio", geometric_mean(resnet_log_ratios)}});
}

}  // namespace engram::bench
