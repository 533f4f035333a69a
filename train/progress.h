#pragma once
// The per-epoch progress display of the training program:
//   epoch 3/30 [##########..........]  234/468  loss 0.4123  5120 img/s  ETA 0:12
// On a terminal the line is redrawn in place (\r) at most ten times a second;
// otherwise (a log file, CI) a plain line is printed at every 10 % of the epoch.
// Reading the running loss synchronises with the device, so the bar asks for
// it (through a callback) only when it actually prints.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace engram::train {

class ProgressBar {
 public:
  // out == nullptr: silent. interactive: redraw in place (pass is_terminal(out)).
  ProgressBar(std::FILE* out, bool interactive, std::string label, int64_t total_steps, int64_t batch_size);
  // Called after each step with the number of steps done.
  void update(int64_t steps_done, const std::function<double()>& running_loss);
  // Ends the bar's line (on a terminal) and prints `summary` on its own line.
  void finish(const std::string& summary);

  // The text of one progress line (no \r or newline); exposed for tests.
  static std::string format_line(const std::string& label, int64_t steps_done, int64_t total_steps, double loss,
                                 double images_per_second, double eta_seconds, bool with_bar);
  static bool is_terminal(std::FILE* out);

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool interactive_;
  std::string label_;
  int64_t total_steps_, batch_size_;
  Clock::time_point start_, last_draw_;
  int64_t next_plain_decile_ = 1;  // plain mode: the next 10 % mark to print at
  bool drew_ = false;
};

// "1:05", "12:00:03": minutes and seconds, with hours when needed.
std::string format_duration(double seconds);

}  // namespace engram::train
