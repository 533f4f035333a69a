#pragma once
// How the host runtime executes a kernel. A launch runs its blocks one after
// another on the calling thread; the threads of a block are cooperatively
// scheduled fibers (fiber.h), each with its own guarded stack:
//
//  - A fiber runs threads one after another until the running thread reaches
//    a barrier or a warp collective; that thread keeps the fiber, and the
//    next unstarted thread gets a new one. A kernel without barriers (most
//    elementwise kernels) runs as a plain loop on one fiber.
//  - __syncthreads() is a real block barrier. A thread that returns while
//    others wait at one, or that reaches one after another thread returned,
//    is an error: CUDA leaves it undefined.
//  - A warp is 32 consecutive linear thread ids. Shuffles, votes and
//    __syncwarp are collective: they complete when every lane the mask names
//    has arrived at the same collective, and the mask must name the caller
//    and only lanes that exist. A named lane that has returned, or a block in
//    which no thread can proceed, is an error naming the kernel. A lane that
//    reads a lane the mask leaves out gets all-ones bits (NaN for a float):
//    CUDA leaves the value undefined.
//  - The schedule picks the order of blocks, and of threads between two
//    synchronisation points. A deterministic kernel gives bitwise-identical
//    output under every schedule; a difference is a race.
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include "core/cuda/host/vector_types.h"

namespace engram::cuda::host {

enum class ScheduleOrder { in_order, reversed, shuffled };
struct Schedule {
  ScheduleOrder order = ScheduleOrder::in_order;
  uint64_t seed = 0;  // for shuffled
};
// The process-wide schedule. ENGRAM_CUDA_HOST_SCHEDULE=in-order|reversed|shuffled[:SEED] sets it at start-up.
Schedule schedule();
void set_schedule(Schedule s);
std::string schedule_name(Schedule s);

struct BlockCoordinates {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
};
struct ThreadCoordinates {
  uint3 thread_idx;
};

// The coordinates of the kernel thread running now (a DeviceError outside one).
const BlockCoordinates& current_block();
const ThreadCoordinates& current_thread();

// Runs thread_body for every thread of every block, in the schedule's order.
// Throws DeviceError naming the kernel for a barrier or collective misuse.
void run_kernel(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes,
                const std::function<void()>& thread_body);

void sync_threads();
void sync_warp(unsigned mask);
void* dynamic_shared();  // the running block's dynamic shared memory
unsigned active_mask();

enum class Shuffle { index, up, down, bfly };
enum class Vote { ballot, any, all };
uint64_t shuffle_bits(Shuffle kind, unsigned mask, uint64_t bits, int operand, int width);
unsigned vote(Vote kind, unsigned mask, bool predicate);

template <typename T>
T shuffle(Shuffle kind, unsigned mask, T value, int operand, int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move values of up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle_bits(kind, mask, bits, operand, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace engram::cuda::host
