// The host runtime's CUDA semantics (ENGRAM_CUDA=HOST only; a GPU build
// leaves this program out): warp shuffles, votes and the active mask,
// __syncthreads with shared memory, atomics, and the undefined uses it
// reports as errors instead of producing garbage.
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include "core/cuda/launch.h"
#include "core/cuda_runtime.h"
#include "core/tensor.h"
#include "tests/support/checks.h"

using namespace engram;
using Catch::Matchers::Contains;
using engram::testing::message_of;

namespace {

// out[warp] = the sum of threadIdx.x over the warp's lanes, by shfl_down.
__global__ void warp_sum_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

// out = {ballot, any, all} of predicates on threadIdx.x, then the active
// mask of the lanes below 20 once the others have returned.
__global__ void vote_kernel(unsigned* out) {
  const unsigned lane = threadIdx.x;
  const unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
  const int any = __any_sync(0xffffffffu, lane == 31);
  const int all = __all_sync(0xffffffffu, lane < 31);
  if (lane == 0) out[0] = ballot, out[1] = static_cast<unsigned>(any), out[2] = static_cast<unsigned>(all);
  if (lane >= 20) return;
  __syncwarp(0xfffffu);
  if (lane == 0) out[3] = __activemask();
}

// out[0] = the sum of 0..255 by a shared-memory tree; out[1] collects one bit per lane % 8 by atomicOr.
__global__ void shared_sum_kernel(int* out) {
  __shared__ int partial[256];
  partial[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  for (unsigned half = 128; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = partial[0];
  atomicOr(out + 1, 1 << (threadIdx.x % 8));
}

// Undefined in CUDA: a shuffle naming lanes that have returned.
__global__ void shuffle_after_return_kernel(int* out) {
  if (threadIdx.x < 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1, 1);
}

// Undefined in CUDA: __syncthreads after some threads returned.
__global__ void barrier_after_return_kernel(int* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  return t.to(Device::cpu()).to_vector<T>();
}

}  // namespace

TEST_CASE("host runtime: warp shuffles, votes and the active mask behave as on a GPU", "[cuda][host_runtime]") {
  Tensor sums = Tensor::zeros({3}, DType::i32, Device::cuda());
  cuda::launch("warp_sum_kernel", warp_sum_kernel, 1, 96, 0, sums.data<int>());
  CHECK(values<int32_t>(sums) == std::vector<int32_t>{496, 496 + 32 * 32, 496 + 64 * 32});

  Tensor votes = Tensor::zeros({4}, DType::i32, Device::cuda());
  cuda::launch("vote_kernel", vote_kernel, 1, 32, 0, reinterpret_cast<unsigned*>(votes.data<int>()));
  unsigned every_third = 0;
  for (int lane = 0; lane < 32; lane += 3) every_third |= 1u << lane;
  std::vector<int32_t> v = values<int32_t>(votes);
  CHECK(static_cast<unsigned>(v[0]) == every_third);
  CHECK(v[1] == 1);
  CHECK(v[2] == 0);
  CHECK(static_cast<unsigned>(v[3]) == 0xfffffu);
}

TEST_CASE("host runtime: __syncthreads orders shared memory, atomics are whole", "[cuda][host_runtime]") {
  Tensor out = Tensor::zeros({2}, DType::i32, Device::cuda());
  cuda::launch("shared_sum_kernel", shared_sum_kernel, 1, 256, 0, out.data<int>());
  CHECK(values<int32_t>(out) == std::vector<int32_t>{255 * 256 / 2, 0xff});
}

TEST_CASE("host runtime: undefined warp and barrier uses are errors naming the kernel and thread",
          "[cuda][host_runtime]") {
  Tensor out = Tensor::zeros({32}, DType::i32, Device::cuda());
  std::string shuffle = message_of<DeviceError>([&] {
    cuda::launch("shuffle_after_return_kernel", shuffle_after_return_kernel, 1, 32, 0, out.data<int>());
    cuda::synchronize();
  });
  CHECK_THAT(shuffle, Contains("kernel shuffle_after_return_kernel") &&
                          Contains("with mask 0xffffffff names lane 0, which has returned"));
  std::string barrier = message_of<DeviceError>([&] {
    cuda::launch("barrier_after_return_kernel", barrier_after_return_kernel, 1, 32, 0, out.data<int>());
    cuda::synchronize();
  });
  CHECK_THAT(barrier, Contains("kernel barrier_after_return_kernel") && Contains("__syncthreads()"));
}
