// bench_kernels: engram's handwritten GEMM and convolution kernels against
// cuBLAS / cuDNN, measured in the same run. Prints one JSON document.
//   bench_kernels [--quick] [--only gemm|conv]
#include <cstdio>
#include <iostream>
#include <string>

#include <cuda_runtime.h>

#include "benchmarks/kernel_benchmarks.h"
#include "core/device.h"

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") quick = true;
    else if (arg == "--only" && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_kernels [--quick] [--only gemm|conv]\n");
      return 2;
    }
  }
  if (!engram::cuda_available()) {
    std::fprintf(stderr, "bench_kernels: no CUDA device visible\n");
    return 1;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  nlohmann::json out = {{"device", prop.name}, {"driver", driver}, {"runtime", runtime}};
  if (only.empty() || only == "gemm") engram::bench::run_gemm_benchmarks(out["gemm"], quick);
  if (only.empty() || only == "conv") engram::bench::run_conv_benchmarks(out["conv"], quick);
  std::cout << out.dump(2) << std::endl;
  return 0;
}
