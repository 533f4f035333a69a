#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace engram::optim {

namespace {

class Constant : public LrSchedule {
 public:
  explicit Constant(double lr) : lr_(lr) {}
  double lr_at(double) const override { return lr_; }

 private:
  double lr_;
};

class MultiStep : public LrSchedule {
 public:
  MultiStep(double lr, std::vector<double> milestones, double gamma)
      : lr_(lr), milestones_(std::move(milestones)), gamma_(gamma) {}
  double lr_at(double epoch) const override {
    int passed = 0;
    for (double m : milestones_) passed += epoch >= m;
    return lr_ * std::pow(gamma_, passed);
  }

 private:
  double lr_;
  std::vector<double> milestones_;
  double gamma_;
};

class Cosine : public LrSchedule {
 public:
  Cosine(double lr, double total, double eta_min) : lr_(lr), total_(total), eta_min_(eta_min) {}
  double lr_at(double epoch) const override {
    double t = std::clamp(epoch / total_, 0.0, 1.0);
    return eta_min_ + (lr_ - eta_min_) * 0.5 * (1 + std::cos(M_PI * t));
  }

 private:
  double lr_, total_, eta_min_;
};

class Warmup : public LrSchedule {
 public:
  Warmup(std::unique_ptr<LrSchedule> inner, double epochs, double start)
      : inner_(std::move(inner)), epochs_(epochs), start_(start) {}
  double lr_at(double epoch) const override {
    if (epoch >= epochs_) return inner_->lr_at(epoch - epochs_);
    double factor = start_ + (1 - start_) * epoch / epochs_;
    return factor * inner_->lr_at(0);
  }

 private:
  std::unique_ptr<LrSchedule> inner_;
  double epochs_, start_;
};

void check_lr(const char* op, double lr) {
  ENGRAM_CHECK(lr >= 0, ValueError, op, "learning rate must be >= 0, got " + std::to_string(lr));
}

}  // namespace

std::unique_ptr<LrSchedule> constant_lr(double base_lr) {
  check_lr("constant_lr", base_lr);
  return std::make_unique<Constant>(base_lr);
}

std::unique_ptr<LrSchedule> multistep_lr(double base_lr, std::vector<double> milestones, double gamma) {
  check_lr("multistep_lr", base_lr);
  ENGRAM_CHECK(std::is_sorted(milestones.begin(), milestones.end()), ValueError, "multistep_lr",
               "milestones must be increasing");
  ENGRAM_CHECK(gamma > 0, ValueError, "multistep_lr", "gamma must be > 0, got " + std::to_string(gamma));
  return std::make_unique<MultiStep>(base_lr, std::move(milestones), gamma);
}

std::unique_ptr<LrSchedule> cosine_lr(double base_lr, double total_epochs, double eta_min) {
  check_lr("cosine_lr", base_lr);
  ENGRAM_CHECK(total_epochs > 0, ValueError, "cosine_lr",
               "total_epochs must be > 0, got " + std::to_string(total_epochs));
  return std::make_unique<Cosine>(base_lr, total_epochs, eta_min);
}

std::unique_ptr<LrSchedule> with_warmup(std::unique_ptr<LrSchedule> inner, double warmup_epochs, double start_factor) {
  ENGRAM_CHECK(warmup_epochs > 0, ValueError, "with_warmup",
               "warmup_epochs must be > 0, got " + std::to_string(warmup_epochs));
  ENGRAM_CHECK(start_factor >= 0 && start_factor <= 1, ValueError, "with_warmup",
               "start_factor must be in [0, 1], got " + std::to_string(start_factor));
  return std::make_unique<Warmup>(std::move(inner), warmup_epochs, start_factor);
}

}  // namespace engram::optim
