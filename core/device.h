#pragma once
#include <string>

namespace engram {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // Parses "cpu", "cuda", "cuda:1"; throws ValueError otherwise.
  static Device parse(const std::string& name);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// True when engram was built with CUDA and at least one GPU is visible.
bool cuda_available();
// Number of visible GPUs (0 in a CPU-only build).
int cuda_device_count();
// Which device a run asks for: automatic is CUDA when a GPU is visible, else the CPU.
enum class DeviceRequest { automatic, cpu, cuda };
const char* device_request_name(DeviceRequest request);  // "auto", "cpu", "cuda"
// ConfigError on the field "device" for another name.
DeviceRequest parse_device_request(const std::string& name);
// The device to run on; DeviceError (naming `op`) for cuda without a GPU.
Device resolve_device(DeviceRequest request, const std::string& op);

[[noreturn]] void throw_no_cuda(const char* op);

}  // namespace engram

// ENGRAM_CUDA_CALL(op, call): the call on a CUDA build, otherwise a
// DeviceError (unreachable in practice: a CPU-only build cannot make a CUDA tensor).
#if ENGRAM_HAS_CUDA
#define ENGRAM_CUDA_CALL(op, ...) __VA_ARGS__
#else
#define ENGRAM_CUDA_CALL(op, ...) ::engram::throw_no_cuda(op)
#endif
