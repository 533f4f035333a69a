#pragma once
// Fibers for the host runtime's kernel threads: a guarded stack and a context
// switch between the scheduler (the OS thread's own stack) and one fiber.
//
// The switch is Boost.Context's fcontext (Debian's libboost-context): a few
// dozen instructions that save the callee-saved registers and the stack
// pointer. ucontext's swapcontext would make a signal-mask system call on
// every switch, and a block of 256 threads switches 512 times per barrier.
// Under AddressSanitizer every switch is announced
// (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber), so ASan
// knows which stack is live and reports kernel bugs without false positives.
#include <cstddef>

namespace engram::cuda::host {

// usable_bytes of stack above one inaccessible page: a kernel thread that
// overflows its stack faults at once instead of writing into another's.
class GuardedStack {
 public:
  explicit GuardedStack(size_t usable_bytes);
  ~GuardedStack();
  GuardedStack(const GuardedStack&) = delete;
  GuardedStack& operator=(const GuardedStack&) = delete;
  void* bottom() const { return bottom_; }  // lowest usable address
  size_t size() const { return size_; }
  // After a fiber was abandoned mid-frame (a kernel error), forget the
  // sanitizer's poisoning of its frames before the stack is reused.
  void forget_frames();

 private:
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  void* bottom_ = nullptr;
  size_t size_ = 0;
};

class Fiber {
 public:
  using Entry = void (*)(void* arg);
  // Prepares the fiber to run entry(arg) on stack; nothing runs until resume().
  void start(GuardedStack& stack, Entry entry, void* arg);
  // From the scheduler: runs the fiber until it suspends or finishes.
  void resume();
  // From inside the fiber: back to the scheduler, until the next resume().
  void suspend();
  bool finished() const { return finished_; }

 private:
  static void trampoline(void* transfer);  // boost::context::detail::transfer_t, by pointer
  // Never returns, but is not declared [[noreturn]]: AddressSanitizer calls
  // its costly __asan_handle_no_return (a system call) before every such call.
  void finish();

  void* context_ = nullptr;         // the fiber's suspended context
  void* caller_ = nullptr;          // the scheduler's suspended context
  GuardedStack* stack_ = nullptr;
  Entry entry_ = nullptr;
  void* arg_ = nullptr;
  bool finished_ = true;
  // AddressSanitizer's bookkeeping of the two stacks.
  void* fiber_fake_stack_ = nullptr;
  void* caller_fake_stack_ = nullptr;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
};

}  // namespace engram::cuda::host
