#include "core/cuda/launch.h"

#include <string>

namespace engram::cuda {

namespace {

std::string dims(dim3 d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}

[[noreturn]] void refuse(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes,
                         const std::string& problem) {
  throw DeviceError(std::string("launch of ") + kernel_name + " (grid " + dims(grid) + ", block " + dims(block) +
                    ", " + std::to_string(shared_bytes) + " bytes of dynamic shared memory): " + problem);
}

}  // namespace

void check_launch(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes, size_t param_bytes) {
  using L = LaunchLimits;
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  auto fail = [&](const std::string& problem) { refuse(kernel_name, grid, block, shared_bytes, problem); };
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0)
    fail("every grid and block dimension must be at least 1");
  if (threads > L::kMaxThreadsPerBlock)
    fail("a block holds at most " + std::to_string(L::kMaxThreadsPerBlock) + " threads, got " +
         std::to_string(threads));
  if (block.x > L::kMaxBlockX || block.y > L::kMaxBlockY || block.z > L::kMaxBlockZ)
    fail("block dimensions are limited to (1024, 1024, 64)");
  if (grid.x > L::kMaxGridX || grid.y > L::kMaxGridYZ || grid.z > L::kMaxGridYZ)
    fail("grid y and z are limited to 65535, x to 2^31 - 1");
  if (shared_bytes > L::kMaxSharedBytes)
    fail("at most " + std::to_string(L::kMaxSharedBytes) + " bytes of shared memory without an opt-in");
  if (param_bytes > L::kMaxParamBytes)
    fail("the kernel's parameters take " + std::to_string(param_bytes) + " bytes, the limit is " +
         std::to_string(L::kMaxParamBytes));
}

}  // namespace engram::cuda
