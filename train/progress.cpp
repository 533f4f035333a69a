#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace engram::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", total / 60, total % 60);
  return buf;
}

bool ProgressBar::is_terminal(std::FILE* out) { return out != nullptr && isatty(fileno(out)) == 1; }

ProgressBar::ProgressBar(std::FILE* out, bool interactive, std::string label, int64_t total_steps, int64_t batch_size)
    : out_(out),
      interactive_(interactive),
      label_(std::move(label)),
      total_steps_(std::max<int64_t>(total_steps, 1)),
      batch_size_(batch_size),
      start_(Clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::format_line(const std::string& label, int64_t steps_done, int64_t total_steps, double loss,
                                     double images_per_second, double eta_seconds, bool with_bar) {
  std::string line = label;
  if (with_bar) {
    const int64_t width = 20;
    int64_t filled = total_steps > 0 ? std::min(width, steps_done * width / total_steps) : width;
    line += " [" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(width - filled), '.') + "]";
  }
  char buf[160];
  int digits = static_cast<int>(std::to_string(total_steps).size());
  std::snprintf(buf, sizeof(buf), " %*lld/%lld  loss %.4f  %.0f img/s  ETA %s", digits,
                static_cast<long long>(steps_done), static_cast<long long>(total_steps), loss, images_per_second,
                format_duration(eta_seconds).c_str());
  return line + buf;
}

void ProgressBar::update(int64_t steps_done, const std::function<double()>& running_loss) {
  if (out_ == nullptr) return;
  Clock::time_point now = Clock::now();
  bool last = steps_done >= total_steps_;
  if (interactive_) {
    if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else {
    // Plain lines at 10 %, 20 %, ... of the epoch.
    if (steps_done * 10 < next_plain_decile_ * total_steps_) return;
    while (next_plain_decile_ * total_steps_ <= steps_done * 10) ++next_plain_decile_;
  }
  double loss = running_loss();  // synchronises with the device
  now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(steps_done * batch_size_) / elapsed : 0.0;
  double eta =
      steps_done > 0 ? elapsed / static_cast<double>(steps_done) * static_cast<double>(total_steps_ - steps_done) : NAN;
  std::string line = format_line(label_, steps_done, total_steps_, loss, rate, eta, interactive_);
  if (interactive_)
    std::fprintf(out_, "\r%s\x1b[K", line.c_str());  // \x1b[K clears what a longer line left
  else
    std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
  last_draw_ = now;
  drew_ = true;
}

void ProgressBar::finish(const std::string& summary) {
  if (out_ == nullptr) return;
  if (interactive_ && drew_) std::fprintf(out_, "\n");
  std::fprintf(out_, "%s\n", summary.c_str());
  std::fflush(out_);
}

}  // namespace engram::train
