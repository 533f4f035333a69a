#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace engram {

// A block of device or host memory, shared by every tensor that views it.
// CPU memory is 64-byte aligned; CUDA memory comes from the stream-ordered
// pool allocator (cudaMallocAsync on engram's stream), so freeing a block
// while kernels that use it are still queued on that stream is safe.
class Storage {
 public:
  // Throws OutOfMemoryError naming `bytes` and the device when allocation fails.
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device) : data_(data), bytes_(bytes), device_(device) {}
  void* data_;
  size_t bytes_;
  Device device_;
};

}  // namespace engram
