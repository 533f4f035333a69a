#pragma once
// Bad inputs that a kernel finds (a label outside [0, C)) without a host
// sync. The kernel records the first one in a small device buffer and goes
// on (writing NaN where the bad input would have been used); the next copy to
// the host (cuda::copy_to_host, after the sync it makes anyway) reads the
// buffer, clears it and throws ValueError describing the input. On a GPU that
// adds one 24-byte copy to each read of the device, and no sync.
// For CUDA-aware translation units only (kernels/cuda, core/cuda).
#include <cstdint>

#include "core/cuda/check.h"

namespace engram::cuda {

struct DeviceErrorRecord {
  int32_t kind;   // 0: none; kLabelOutOfRange
  int32_t value;  // the label
  int64_t index;  // its row
  int64_t bound;  // the number of classes
};
constexpr int32_t kLabelOutOfRange = 1;

// The device buffer (zeroed; made with engram's stream, before any kernel runs).
DeviceErrorRecord* device_error_record();
// Reads the buffer (the stream must be synchronised) and throws ValueError
// for a recorded error, after clearing it.
void throw_recorded_device_error();

#if ENGRAM_CUDA_HOST || defined(__CUDACC__)
// The first report wins; later ones are dropped until the host has read it.
__device__ inline void report_label_out_of_range(DeviceErrorRecord* record, int64_t row, int32_t label,
                                                 int64_t classes) {
  if (atomicCAS(&record->kind, 0, kLabelOutOfRange) == 0) {
    record->value = label;
    record->index = row;
    record->bound = classes;
  }
}
#endif

}  // namespace engram::cuda
