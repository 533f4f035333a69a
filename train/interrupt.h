#pragma once
// Ctrl-C for training runs. The programs install a SIGINT handler that asks
// the run loop (train/run.h) to stop; the loop stops at the next step
// boundary, writes a checkpoint of the unfinished epoch and returns, so that
// `resume` continues exactly where it stopped. A second Ctrl-C ends the
// process at once.
namespace engram::train {

void install_interrupt_handler();
// Asks the running loop to stop (async-signal-safe: what the handler calls).
void request_stop();
bool stop_requested();
void clear_stop_request();

}  // namespace engram::train
