#pragma once
// Sections of bench_kernels. Each appends JSON records to `out`, one per
// (shape, pass): native time, vendor time in the same run, GFLOP/s and the
// ratio native/vendor throughput (1.0 = as fast as cuBLAS/cuDNN).
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace engram::bench {

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
};

// Times fn on engram's CUDA stream with events: `warmup` untimed calls, then
// the median and minimum of `repeats` timed calls.
Timing time_cuda(const std::function<void()>& fn, int warmup = 3, int repeats = 10);

// {"native_ms", "vendor_ms", "native_gflops", "vendor_gflops", "ratio"} for flop count `flops`.
nlohmann::json compare(double flops, const Timing& native, const Timing& vendor);

void run_gemm_benchmarks(nlohmann::json& out, bool quick);
void run_conv_benchmarks(nlohmann::json& out, bool quick);

}  // namespace engram::bench
