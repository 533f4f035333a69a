#include "core/cuda/host/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <string>

#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define ENGRAM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENGRAM_ASAN 1
#endif
#endif

#if ENGRAM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define ENGRAM_START_SWITCH(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define ENGRAM_FINISH_SWITCH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define ENGRAM_START_SWITCH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define ENGRAM_FINISH_SWITCH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

namespace engram::cuda::host {

namespace ctx = boost::context::detail;

GuardedStack::GuardedStack(size_t usable_bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = (usable_bytes + page - 1) / page * page;
  mapping_bytes_ = size_ + page;
  mapping_ = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping_ == MAP_FAILED)
    throw OutOfMemoryError("cuda host runtime: cannot map a " + std::to_string(mapping_bytes_ >> 10) +
                           " KiB fiber stack");
  // Stacks grow down: the guard page sits below the lowest usable address.
  mprotect(mapping_, page, PROT_NONE);
  bottom_ = static_cast<char*>(mapping_) + page;
}

GuardedStack::~GuardedStack() { munmap(mapping_, mapping_bytes_); }

void GuardedStack::forget_frames() {
#if ENGRAM_ASAN
  ASAN_UNPOISON_MEMORY_REGION(bottom_, size_);
#endif
}

void Fiber::start(GuardedStack& stack, Entry entry, void* arg) {
  stack_ = &stack;
  entry_ = entry;
  arg_ = arg;
  finished_ = false;
  fiber_fake_stack_ = nullptr;
  void* top = static_cast<char*>(stack.bottom()) + stack.size();
  context_ = ctx::make_fcontext(top, stack.size(), [](ctx::transfer_t t) { trampoline(&t); });
}

void Fiber::resume() {
  ENGRAM_START_SWITCH(&caller_fake_stack_, stack_->bottom(), stack_->size());
  ctx::transfer_t t = ctx::jump_fcontext(context_, this);
  ENGRAM_FINISH_SWITCH(caller_fake_stack_, nullptr, nullptr);
  context_ = t.fctx;
}

void Fiber::trampoline(void* transfer) {
  auto* t = static_cast<ctx::transfer_t*>(transfer);
  auto* self = static_cast<Fiber*>(t->data);
  self->caller_ = t->fctx;
  ENGRAM_FINISH_SWITCH(nullptr, &self->caller_bottom_, &self->caller_size_);
  self->entry_(self->arg_);
  self->finish();
}

void Fiber::suspend() {
  ENGRAM_START_SWITCH(&fiber_fake_stack_, caller_bottom_, caller_size_);
  ctx::transfer_t t = ctx::jump_fcontext(caller_, nullptr);
  caller_ = t.fctx;
  ENGRAM_FINISH_SWITCH(fiber_fake_stack_, &caller_bottom_, &caller_size_);
}

void Fiber::finish() {
  finished_ = true;
  // A null save slot tells ASan this fiber's fake stack is gone for good.
  ENGRAM_START_SWITCH(nullptr, caller_bottom_, caller_size_);
  ctx::jump_fcontext(caller_, nullptr);
}

}  // namespace engram::cuda::host
