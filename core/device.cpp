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

const char* device_request_name(DeviceRequest request) {
  switch (request) {
    case DeviceRequest::automatic: return "auto";
    case DeviceRequest::cpu: return "cpu";
    case DeviceRequest::cuda: return "cuda";
  }
  return "?";
}

DeviceRequest parse_device_request(const std::string& name) {
  for (DeviceRequest r : {DeviceRequest::automatic, DeviceRequest::cpu, DeviceRequest::cuda})
    if (name == device_request_name(r)) return r;
  throw ConfigError("parse_device_request", "device", "must be auto, cpu or cuda, got \"" + name + "\"");
}

Device resolve_device(DeviceRequest request, const std::string& op) {
  if (request == DeviceRequest::automatic) return cuda_available() ? Device::cuda() : Device::cpu();
  if (request == DeviceRequest::cpu) return Device::cpu();
#if ENGRAM_HAS_CUDA
  ENGRAM_CHECK(cuda_available(), DeviceError, op, "device cuda: no CUDA GPU is visible");
#else
  throw DeviceError(op + ": device cuda: engram was built without CUDA (use the CPU or auto)");
#endif
  return Device::cuda();
}

void throw_no_cuda(const char* op) { throw DeviceError(std::string(op) + ": engram was built without CUDA"); }

}  // namespace engram
