#pragma once
// Selects the CUDA implementation of an op family (kernels/dispatch.h) for
// one scope: the only way tests switch between engram's kernels and the
// vendor twins (cuBLAS, cuDNN).
#include <vector>

#include "kernels/dispatch.h"

namespace engram::testing {

// Sets backend(family) to `choice` and restores the previous choice on exit.
// Throws DeviceError (from set_backend) when `choice` is vendor and the build
// has no vendor twin of the family: ask vendor_available() first.
class BackendGuard {
 public:
  BackendGuard(OpFamily family, Backend choice) : family_(family), previous_(backend(family)) {
    set_backend(family, choice);
  }
  ~BackendGuard() { set_backend(family_, previous_); }
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  OpFamily family_;
  Backend previous_;
};

// Native always, vendor too when this build has the family's vendor twin.
inline std::vector<Backend> available_backends(OpFamily family) {
  std::vector<Backend> backends{Backend::native};
  if (vendor_available(family)) backends.push_back(Backend::vendor);
  return backends;
}

}  // namespace engram::testing
