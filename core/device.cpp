#include "core/device.h"

#include "core/error.h"

#if ENGRAM_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace engram {

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0) {
    try {
      size_t used = 0;
      int index = std::stoi(name.substr(5), &used);
      if (used == name.size() - 5 && index >= 0) return cuda(index);
    } catch (const std::exception&) {
    }
  }
  throw ValueError("Device::parse: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"" + name + "\"");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

int cuda_device_count() {
#if ENGRAM_HAS_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

Device resolve_device(const std::string& name, const std::string& program) {
  if (name == "auto") return cuda_available() ? Device::cuda() : Device::cpu();
  ENGRAM_CHECK(name == "cpu" || name == "cuda", ValueError, program,
               "--device must be auto, cpu or cuda, got \"" + name + "\"");
  if (name == "cpu") return Device::cpu();
#if ENGRAM_HAS_CUDA
  ENGRAM_CHECK(cuda_available(), DeviceError, program, "--device cuda: no CUDA GPU is visible");
#else
  throw DeviceError(program + ": --device cuda: engram was built without CUDA (use --device cpu or auto)");
#endif
  return Device::cuda();
}

void throw_no_cuda(const char* op) { throw DeviceError(std::string(op) + ": engram was built without CUDA"); }

}  // namespace engram
