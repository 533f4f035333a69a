#pragma once
// Non-finite values (NaN, +Inf, -Inf), looked for on the tensors' own device.
// The training loop marks a step whose gradients or updated parameters hold
// one without waiting for the device (optim/optimizer.h); --detect-anomaly
// looks at every op's output and waits (core/autograd.h).
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace engram {

// Sets `bit` in `flags`, an i32 tensor of one element on the tensors' device,
// when any element of `tensors` (f32 or f64; integer tensors are always
// finite) is NaN or infinite. Other bits are left alone. On CUDA the check is
// queued on engram's stream: the host does not wait.
void flag_nonfinite(const std::vector<Tensor>& tensors, const Tensor& flags, int32_t bit);

// True when no element of `t` is NaN or infinite; reads the device.
bool all_finite(const Tensor& t);

}  // namespace engram
