#include "core/cuda/host/scheduler.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "core/cuda/host/fiber.h"
#include "core/error.h"

namespace engram::cuda::host {

namespace {

// Set by the scheduler while a kernel thread runs; null outside kernels.
thread_local const BlockCoordinates* running_block = nullptr;
thread_local const ThreadCoordinates* running_thread = nullptr;

[[noreturn]] void fail_outside_kernel(const char* what) {
  throw DeviceError(std::string("cuda host runtime: ") + what + " used outside a running kernel thread");
}

// Large enough for the kernels' register tiles under AddressSanitizer, whose
// redzones triple a frame; the pages a thread never touches cost nothing.
constexpr size_t kStackBytes = 256 * 1024;
constexpr int kWarp = 32;

Schedule parse_schedule(const std::string& text) {
  Schedule s;
  std::string order = text.substr(0, text.find(':'));
  if (order == "in-order") s.order = ScheduleOrder::in_order;
  else if (order == "reversed") s.order = ScheduleOrder::reversed;
  else if (order == "shuffled") s.order = ScheduleOrder::shuffled;
  else
    throw ValueError("ENGRAM_CUDA_HOST_SCHEDULE: expected in-order, reversed or shuffled[:SEED], got \"" + text +
                     "\"");
  if (text.find(':') != std::string::npos) s.seed = std::stoull(text.substr(text.find(':') + 1));
  return s;
}

Schedule& current_schedule() {
  static Schedule s = [] {
    const char* env = std::getenv("ENGRAM_CUDA_HOST_SCHEDULE");
    return env && *env ? parse_schedule(env) : Schedule{};
  }();
  return s;
}

// The schedule's permutation of 0..n-1; salt tells launches and blocks apart.
void order_indices(std::vector<int>& order, int n, Schedule s, uint64_t salt) {
  order.resize(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (s.order == ScheduleOrder::reversed) std::reverse(order.begin(), order.end());
  if (s.order == ScheduleOrder::shuffled) {
    std::mt19937_64 gen(s.seed * 0x9E3779B97F4A7C15ull + salt);
    std::shuffle(order.begin(), order.end(), gen);
  }
}

std::string coordinates(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string hex(unsigned mask) {
  std::ostringstream out;
  out << "0x" << std::hex << mask;
  return out.str();
}

enum class Status { unstarted, running, ready, at_barrier, at_warp, done };

enum class Collective { syncwarp, shfl_index, shfl_up, shfl_down, shfl_bfly, ballot, any, all };

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::syncwarp: return "__syncwarp";
    case Collective::shfl_index: return "__shfl_sync";
    case Collective::shfl_up: return "__shfl_up_sync";
    case Collective::shfl_down: return "__shfl_down_sync";
    case Collective::shfl_bfly: return "__shfl_xor_sync";
    case Collective::ballot: return "__ballot_sync";
    case Collective::any: return "__any_sync";
    case Collective::all: return "__all_sync";
  }
  return "?";
}

struct Thread {
  ThreadCoordinates coords;
  int lane = 0, warp = 0;
  Status status = Status::unstarted;
  size_t fiber = 0;  // index into Block::fibers once started
};

// One collective a warp's lanes are gathering at: values go in as lanes
// arrive; when the last named lane arrives, every lane's result is computed.
struct WarpCollective {
  bool pending = false;
  Collective kind = Collective::syncwarp;
  unsigned mask = 0, arrived = 0;
  unsigned returned = 0;  // lanes whose thread has returned (kept across collectives)
  int width = kWarp;
  uint64_t value[kWarp] = {};
  int operand[kWarp] = {};
  uint64_t result[kWarp] = {};
};

// Thrown inside a fiber to unwind back to the scheduler; carries nothing,
// the message is in Block::error.
struct KernelFault {};

// Fibers and their stacks are kept for the next block and launch: mapping a
// stack costs a system call and its first page faults.
struct FiberSlot {
  GuardedStack stack{kStackBytes};
  Fiber fiber;
};
thread_local std::vector<std::unique_ptr<FiberSlot>> fiber_pool;

class Block;
thread_local Block* running = nullptr;
thread_local Thread* running_thread_state = nullptr;

class Block {
 public:
  Block(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body)
      : kernel_(kernel_name), body_(body), dynamic_shared_(shared_bytes) {
    coords_.grid_dim = grid;
    coords_.block_dim = block;
    count_ = static_cast<int>(block.x * block.y * block.z);
    threads_.resize(static_cast<size_t>(count_));
    for (int i = 0; i < count_; ++i) {
      Thread& t = threads_[static_cast<size_t>(i)];
      t.coords.thread_idx = {i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
      t.lane = i % kWarp;
      t.warp = i / kWarp;
    }
    warps_.resize(static_cast<size_t>((count_ + kWarp - 1) / kWarp));
  }

  // Runs every thread of block `index` (x fastest) to completion.
  void run(uint3 index, Schedule s, uint64_t salt) {
    coords_.block_idx = index;
    for (Thread& t : threads_) t.status = Status::unstarted;
    for (WarpCollective& w : warps_) w = WarpCollective{};
    at_barrier_ = done_ = 0;
    next_unstarted_ = 0;
    fibers_used_ = 0;
    error_.clear();
    // Uninitialised dynamic shared memory reads as NaN (0xFF bytes), as garbage would on a GPU.
    std::fill(dynamic_shared_.begin(), dynamic_shared_.end(), static_cast<unsigned char>(0xFF));
    order_indices(order_, count_, s, salt);

    while (done_ < count_ && error_.empty()) {
      bool progressed = false;
      for (int i : order_) {
        Thread& t = threads_[static_cast<size_t>(i)];
        if (t.status == Status::unstarted) {
          start_fiber();
          progressed = true;
        } else if (t.status == Status::ready) {
          resume(t);
          progressed = true;
        }
        if (!error_.empty()) break;
      }
      if (!progressed && error_.empty()) report_stall();
    }
    if (!error_.empty()) {
      // Fibers still suspended mid-kernel are dropped; their stacks are reused.
      for (size_t f = 0; f < fibers_used_; ++f) fiber_pool[f]->stack.forget_frames();
      throw DeviceError("cuda host runtime: kernel " + kernel_ + ", block " + coordinates(index) + ": " + error_);
    }
  }

  const BlockCoordinates& coords() const { return coords_; }
  void* dynamic_shared() { return dynamic_shared_.empty() ? nullptr : dynamic_shared_.data(); }

  void sync_threads(Thread& t) {
    if (done_ > 0) fail(t, "reached __syncthreads() after " + returned_threads() + " returned (undefined in CUDA)");
    t.status = Status::at_barrier;
    if (++at_barrier_ == count_) {
      at_barrier_ = 0;
      for (Thread& other : threads_) other.status = Status::ready;
    }
    wait(t);
  }

  uint64_t collective(Thread& t, Collective kind, unsigned mask, uint64_t value, int operand, int width) {
    const int warp_lanes = std::min(kWarp, count_ - t.warp * kWarp);
    const unsigned existing = warp_lanes == kWarp ? 0xffffffffu : ((1u << warp_lanes) - 1);
    const unsigned self = 1u << t.lane;
    if (!(mask & self)) fail(t, std::string(collective_name(kind)) + " with mask " + hex(mask) + " that leaves out the calling lane " + std::to_string(t.lane));
    if (mask & ~existing)
      fail(t, std::string(collective_name(kind)) + " with mask " + hex(mask) + " naming lanes that do not exist (the warp has " +
                  std::to_string(warp_lanes) + " lanes in a block of " + std::to_string(count_) + " threads)");
    if (width < 1 || width > kWarp || (width & (width - 1)))
      fail(t, std::string(collective_name(kind)) + " with width " + std::to_string(width) + " (expected a power of 2 up to 32)");
    WarpCollective& w = warps_[static_cast<size_t>(t.warp)];
    if (w.pending && (w.kind != kind || w.mask != mask || w.width != width))
      fail(t, "lanes of warp " + std::to_string(t.warp) + " wait at different collectives: " + collective_name(w.kind) +
                  " (mask " + hex(w.mask) + ") and " + collective_name(kind) + " (mask " + hex(mask) + ")");
    if (const unsigned gone = mask & w.returned)
      fail(t, std::string(collective_name(kind)) + " with mask " + hex(mask) + " names lane " +
                  std::to_string(__builtin_ctz(gone)) + ", which has returned");
    w.pending = true;
    w.kind = kind;
    w.mask = mask;
    w.width = width;
    w.value[t.lane] = value;
    w.operand[t.lane] = operand;
    w.arrived |= self;
    t.status = Status::at_warp;
    if (w.arrived == mask) {
      complete(w, t.warp);
      for (int lane = 0; lane < kWarp; ++lane)
        if (mask >> lane & 1u) threads_[static_cast<size_t>(t.warp * kWarp + lane)].status = Status::ready;
    }
    wait(t);
    return w.result[t.lane];
  }

  unsigned active_mask(const Thread& t) const {
    const int warp_lanes = std::min(kWarp, count_ - t.warp * kWarp);
    const unsigned existing = warp_lanes == kWarp ? 0xffffffffu : ((1u << warp_lanes) - 1);
    return existing & ~warps_[static_cast<size_t>(t.warp)].returned;
  }

  [[noreturn]] void fail(const Thread& t, const std::string& what) {
    error_ = "thread " + coordinates(t.coords.thread_idx) + " " + what;
    throw KernelFault{};
  }

 private:
  // Each fiber runs unstarted threads, in schedule order, until the running
  // one waits: then that thread keeps this fiber and the scheduler starts another.
  static void fiber_main(void* arg) {
    auto* self = static_cast<Block*>(arg);
    const size_t fiber = self->fibers_used_ - 1;
    while (self->next_unstarted_ < self->order_.size() && self->error_.empty()) {
      Thread& t = self->threads_[static_cast<size_t>(self->order_[self->next_unstarted_++])];
      t.fiber = fiber;
      t.status = Status::running;
      self->enter(t);
      try {
        self->body_();
        self->exit_thread(t);
      } catch (const KernelFault&) {
        return;
      } catch (const std::exception& e) {
        self->error_ = "thread " + coordinates(t.coords.thread_idx) + " threw: " + e.what();
        return;
      }
    }
  }

  void enter(Thread& t) {
    running = this;
    running_thread_state = &t;
    running_block = &coords_;
    running_thread = &t.coords;
  }

  void start_fiber() {
    if (fibers_used_ == fiber_pool.size()) fiber_pool.push_back(std::make_unique<FiberSlot>());
    FiberSlot& slot = *fiber_pool[fibers_used_++];
    slot.fiber.start(slot.stack, &Block::fiber_main, this);
    slot.fiber.resume();
    leave();
  }

  void resume(Thread& t) {
    t.status = Status::running;
    enter(t);
    fiber_pool[t.fiber]->fiber.resume();
    leave();
  }

  void leave() {
    running_thread_state = nullptr;
    running_thread = nullptr;
  }

  // The running thread waits until another thread releases it.
  void wait(Thread& t) {
    fiber_pool[t.fiber]->fiber.suspend();
    enter(t);
    if (!error_.empty()) throw KernelFault{};
  }

  void exit_thread(Thread& t) {
    t.status = Status::done;
    warps_[static_cast<size_t>(t.warp)].returned |= 1u << t.lane;
    ++done_;
    if (at_barrier_ > 0)
      fail(t, "returned while " + std::to_string(at_barrier_) + " threads wait at __syncthreads() (undefined in CUDA)");
    const WarpCollective& w = warps_[static_cast<size_t>(t.warp)];
    if (w.pending && (w.mask >> t.lane & 1u))
      fail(t, std::string("returned while its warp waits at ") + collective_name(w.kind) + " with mask " + hex(w.mask) +
                  ", which names it");
  }

  void complete(WarpCollective& w, int warp) {
    (void)warp;
    const unsigned mask = w.mask;
    unsigned votes = 0;
    for (int lane = 0; lane < kWarp; ++lane)
      if ((mask >> lane & 1u) && w.value[lane]) votes |= 1u << lane;
    for (int lane = 0; lane < kWarp; ++lane) {
      if (!(mask >> lane & 1u)) continue;
      const int base = lane & ~(w.width - 1);
      int src = lane;
      switch (w.kind) {
        case Collective::shfl_index: src = base + (w.operand[lane] & (w.width - 1)); break;
        case Collective::shfl_up: src = lane - w.operand[lane] >= base ? lane - w.operand[lane] : lane; break;
        case Collective::shfl_down: src = lane + w.operand[lane] < base + w.width ? lane + w.operand[lane] : lane; break;
        case Collective::shfl_bfly: {
          int target = lane ^ w.operand[lane];
          src = target < base + w.width ? target : lane;
          break;
        }
        default: break;
      }
      switch (w.kind) {
        case Collective::syncwarp: w.result[lane] = 0; break;
        case Collective::ballot: w.result[lane] = votes; break;
        case Collective::any: w.result[lane] = votes != 0; break;
        case Collective::all: w.result[lane] = votes == mask; break;
        default: w.result[lane] = (mask >> src & 1u) ? w.value[src] : ~uint64_t(0); break;
      }
    }
    w.pending = false;
    w.arrived = 0;
  }

  std::string returned_threads() const {
    std::string list;
    int shown = 0;
    for (const Thread& t : threads_) {
      if (t.status != Status::done) continue;
      if (shown++ == 3) return list + " and others";
      list += (list.empty() ? "thread " : ", ") + coordinates(t.coords.thread_idx);
    }
    return list;
  }

  // No thread can run: say who waits where.
  void report_stall() {
    std::string waits;
    for (const Thread& t : threads_) {
      if (t.status == Status::at_warp) {
        const WarpCollective& w = warps_[static_cast<size_t>(t.warp)];
        unsigned missing = w.mask & ~w.arrived;
        error_ = "thread " + coordinates(t.coords.thread_idx) + " waits forever at " + collective_name(w.kind) +
                 " with mask " + hex(w.mask) + ": lanes " + hex(missing) + " never arrive";
        return;
      }
    }
    error_ = std::to_string(at_barrier_) + " threads wait forever at __syncthreads()";
  }

  std::string kernel_;
  const std::function<void()>& body_;
  BlockCoordinates coords_{};
  int count_ = 0;
  std::vector<Thread> threads_;
  std::vector<WarpCollective> warps_;
  std::vector<int> order_;
  size_t next_unstarted_ = 0;
  int at_barrier_ = 0, done_ = 0;
  std::vector<unsigned char> dynamic_shared_;
  size_t fibers_used_ = 0;
  std::string error_;
};

Thread& calling_thread(const char* what) {
  if (!running || !running_thread_state) fail_outside_kernel(what);
  return *running_thread_state;
}

}  // namespace

Schedule schedule() { return current_schedule(); }
void set_schedule(Schedule s) { current_schedule() = s; }

std::string schedule_name(Schedule s) {
  switch (s.order) {
    case ScheduleOrder::in_order: return "in-order";
    case ScheduleOrder::reversed: return "reversed";
    case ScheduleOrder::shuffled: return "shuffled:" + std::to_string(s.seed);
  }
  return "?";
}

const BlockCoordinates& current_block() {
  if (!running_block) fail_outside_kernel("blockIdx/blockDim/gridDim");
  return *running_block;
}

const ThreadCoordinates& current_thread() {
  if (!running_thread) fail_outside_kernel("threadIdx");
  return *running_thread;
}

void run_kernel(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes,
                const std::function<void()>& thread_body) {
  static uint64_t launches = 0;
  const uint64_t launch = launches++;
  const Schedule s = current_schedule();
  Block state(kernel_name, grid, block, shared_bytes, thread_body);
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  std::vector<int> order;
  order_indices(order, static_cast<int>(blocks), s, launch);
  Block* outer = running;
  for (int b : order) {
    const uint64_t i = static_cast<uint64_t>(b);
    state.run({static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
               static_cast<unsigned>(i / (uint64_t(grid.x) * grid.y))},
              s, launch * 1000003u + i);
  }
  running = outer;
  running_block = nullptr;
  running_thread = nullptr;
}

void sync_threads() {
  Thread& t = calling_thread("__syncthreads()");
  running->sync_threads(t);
}

void sync_warp(unsigned mask) {
  Thread& t = calling_thread("__syncwarp()");
  running->collective(t, Collective::syncwarp, mask, 0, 0, kWarp);
}

uint64_t shuffle_bits(Shuffle kind, unsigned mask, uint64_t bits, int operand, int width) {
  Thread& t = calling_thread("a warp shuffle");
  Collective c = kind == Shuffle::index ? Collective::shfl_index
                 : kind == Shuffle::up  ? Collective::shfl_up
                 : kind == Shuffle::down ? Collective::shfl_down
                                         : Collective::shfl_bfly;
  return running->collective(t, c, mask, bits, operand, width);
}

unsigned vote(Vote kind, unsigned mask, bool predicate) {
  Thread& t = calling_thread("a warp vote");
  Collective c = kind == Vote::ballot ? Collective::ballot : kind == Vote::any ? Collective::any : Collective::all;
  return static_cast<unsigned>(running->collective(t, c, mask, predicate ? 1 : 0, 0, kWarp));
}

unsigned active_mask() { return running->active_mask(calling_thread("__activemask()")); }

void* dynamic_shared() {
  calling_thread("dynamic shared memory");
  return running->dynamic_shared();
}

}  // namespace engram::cuda::host
