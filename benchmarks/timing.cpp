#include <algorithm>
#include <vector>

#include "benchmarks/kernel_benchmarks.h"
#include "core/cuda/check.h"

namespace engram::bench {

Timing time_cuda(const std::function<void()>& fn, int warmup, int repeats) {
  cudaStream_t s = cuda::stream();
  for (int i = 0; i < warmup; ++i) fn();
  cudaEvent_t start, stop;
  ENGRAM_CUDA_CHECK(cudaEventCreate(&start));
  ENGRAM_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    ENGRAM_CUDA_CHECK(cudaEventRecord(start, s));
    fn();
    ENGRAM_CUDA_CHECK(cudaEventRecord(stop, s));
    ENGRAM_CUDA_CHECK(cudaEventSynchronize(stop));
    float elapsed = 0;
    ENGRAM_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start, stop));
    ms.push_back(elapsed);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

nlohmann::json compare(double flops, const Timing& native, const Timing& vendor) {
  double native_gflops = flops / (native.median_ms * 1e6);
  double vendor_gflops = flops / (vendor.median_ms * 1e6);
  return {{"native_ms", native.median_ms},       {"vendor_ms", vendor.median_ms},
          {"native_gflops", native_gflops},      {"vendor_gflops", vendor_gflops},
          {"ratio", native_gflops / vendor_gflops}};
}

}  // namespace engram::bench
