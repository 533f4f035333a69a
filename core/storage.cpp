#include "core/storage.h"

#include <cstdlib>
#include <string>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace engram {

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  size_t request = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  void* data = nullptr;
  if (device.is_cpu()) {
    data = std::aligned_alloc(64, request);
    ENGRAM_CHECK(data != nullptr, OutOfMemoryError, "Storage::allocate",
                 "out of host memory allocating " + std::to_string(bytes) + " bytes");
  } else {
#if ENGRAM_HAS_CUDA
    ENGRAM_CHECK(device.index == 0, DeviceError, "Storage::allocate",
                 "engram uses one GPU (cuda:0), got " + device.str());
    data = cuda::allocate(request);
#else
    throw DeviceError("Storage::allocate: engram was built without CUDA, cannot allocate on " + device.str());
#endif
  }
  return std::shared_ptr<Storage>(new Storage(data, bytes, device));
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
#if ENGRAM_HAS_CUDA
    cuda::deallocate(data_);
#endif
  }
}

}  // namespace engram
