#include "train/interrupt.h"

#include <csignal>

namespace engram::train {

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_sigint(int) {
  g_stop = 1;
  std::signal(SIGINT, SIG_DFL);  // the second Ctrl-C is the default: terminate
}

}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }
void request_stop() { g_stop = 1; }
bool stop_requested() { return g_stop != 0; }
void clear_stop_request() { g_stop = 0; }

}  // namespace engram::train
