// The SGD step as a multi-tensor kernel (the shape of PyTorch's
// multi_tensor_apply): the tensors' pointers and a block -> (tensor, chunk)
// map travel in the kernel's parameters, so a step allocates and copies
// nothing and can be captured in a CUDA graph. Each block updates one chunk
// of kChunk elements of one tensor, with float4 accesses when the tensor's
// pointers are 16-byte aligned. A parameter set larger than one launch holds
// (kMaxTensors tensors or kMaxBlocks chunks) is covered by further launches;
// a tensor may span two launches, each taking its own chunks.
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/sgd.h"

namespace engram::cuda {
namespace {

constexpr int kMaxTensors = 32;
constexpr int kMaxBlocks = 320;
constexpr int64_t kChunk = 32768;  // elements per block: 32 float4 per thread

struct SgdTensorList {
  float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  float* buffer[kMaxTensors];  // null without momentum
  int64_t numel[kMaxTensors];
  int tensor_of_block[kMaxBlocks];
  int chunk_of_block[kMaxBlocks];
};

struct SgdScalars {
  float lr, momentum, keep, weight_decay;  // keep = 1 - dampening
  bool use_momentum, nesterov, first_step;
};

// Kernel parameters are limited to 4 KiB.
static_assert(sizeof(SgdTensorList) + sizeof(SgdScalars) <= 4096, "SGD launch parameters exceed 4 KiB");

__device__ __forceinline__ float sgd_update(float param, float grad, float* buffer, const SgdScalars& s) {
  float d = grad;
  if (s.weight_decay != 0.0f) d += s.weight_decay * param;
  if (s.use_momentum) {
    float b = s.first_step ? d : s.momentum * *buffer + s.keep * d;
    *buffer = b;
    d = s.nesterov ? d + s.momentum * b : b;
  }
  return param - s.lr * d;
}


__global__ void __launch_bounds__(kThreads) sgd_multi_tensor_kernel(SgdTensorList list, SgdScalars s) {
  int t = list.tensor_of_block[blockIdx.x];
  float* param = list.param[t];
  const float* grad = list.grad[t];
  float* buffer = list.buffer[t];
  int64_t begin = static_cast<int64_t>(list.chunk_of_block[blockIdx.x]) * kChunk;
  int64_t end = min(begin + kChunk, list.numel[t]);
  float scratch = 0.0f;  // stands in for the buffer without momentum
  // begin is a multiple of 4, so an aligned tensor stays aligned at every chunk.
  bool vectorised = aligned16(param) && aligned16(grad) && (!s.use_momentum || aligned16(buffer));
  int64_t vector_end = vectorised ? begin + (end - begin) / 4 * 4 : begin;
  for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < vector_end; i += 4 * int64_t(kThreads)) {
    float4 p = *reinterpret_cast<const float4*>(param + i);
    float4 g = *reinterpret_cast<const float4*>(grad + i);
    float4 b = s.use_momentum ? *reinterpret_cast<const float4*>(buffer + i) : make_float4(0, 0, 0, 0);
    p.x = sgd_update(p.x, g.x, &b.x, s);
    p.y = sgd_update(p.y, g.y, &b.y, s);
    p.z = sgd_update(p.z, g.z, &b.z, s);
    p.w = sgd_update(p.w, g.w, &b.w, s);
    *reinterpret_cast<float4*>(param + i) = p;
    if (s.use_momentum) *reinterpret_cast<float4*>(buffer + i) = b;
  }
  for (int64_t i = vector_end + threadIdx.x; i < end; i += kThreads)
    param[i] = sgd_update(param[i], grad[i], s.use_momentum ? buffer + i : &scratch, s);
}

void launch_sgd(const SgdTensorList& list, int blocks, const SgdScalars& scalars) {
  launch("sgd_multi_tensor_kernel", sgd_multi_tensor_kernel, blocks, kThreads, 0, list, scalars);
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step) {
  bool use_momentum = !momentum_buffers.empty();
  SgdScalars scalars{static_cast<float>(config.lr),
                     static_cast<float>(config.momentum),
                     static_cast<float>(1.0 - config.dampening),
                     static_cast<float>(config.weight_decay),
                     use_momentum,
                     config.nesterov,
                     first_step};
  SgdTensorList list{};
  int tensors = 0, blocks = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    int64_t n = params[k].numel();
    if (n == 0) continue;
    int slot = tensors++;
    list.param[slot] = mptr(params[k]);
    list.grad[slot] = cptr(grads[k]);
    list.buffer[slot] = use_momentum ? mptr(momentum_buffers[k]) : nullptr;
    list.numel[slot] = n;
    int64_t chunks = (n + kChunk - 1) / kChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      list.tensor_of_block[blocks] = slot;
      list.chunk_of_block[blocks] = static_cast<int>(c);
      if (++blocks < kMaxBlocks) continue;
      launch_sgd(list, blocks, scalars);
      blocks = 0;
      if (c + 1 < chunks) {  // the tensor's remaining chunks go into the next launch, from slot 0
        list.param[0] = list.param[slot];
        list.grad[0] = list.grad[slot];
        list.buffer[0] = list.buffer[slot];
        list.numel[0] = n;
        slot = 0;
        tensors = 1;
      } else {
        tensors = 0;
      }
    }
    if (tensors == kMaxTensors) {
      if (blocks > 0) launch_sgd(list, blocks, scalars);
      tensors = 0;
      blocks = 0;
    }
  }
  if (blocks > 0) launch_sgd(list, blocks, scalars);
}

}  // namespace engram::cuda
