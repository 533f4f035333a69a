#pragma once
// Learning-rate schedules as functions of the (fractional) epoch, so a
// schedule can be stepped per iteration or per epoch with the same meaning.
//   constant, multi-step (PyTorch's MultiStepLR), cosine (CosineAnnealingLR
//   to eta_min over `total_epochs`), and a linear warm-up in front of any of
//   them (the inner schedule starts after the warm-up, as SequentialLR).
#include <memory>
#include <vector>

namespace engram::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(double epoch) const = 0;
};

std::unique_ptr<LrSchedule> constant_lr(double base_lr);
std::unique_ptr<LrSchedule> multistep_lr(double base_lr, std::vector<double> milestones, double gamma);
std::unique_ptr<LrSchedule> cosine_lr(double base_lr, double total_epochs, double eta_min = 0.0);
// Ramps linearly from start_factor * lr_at(0) to lr_at(0) over `warmup_epochs`.
std::unique_ptr<LrSchedule> with_warmup(std::unique_ptr<LrSchedule> inner, double warmup_epochs,
                                        double start_factor = 0.1);

}  // namespace engram::optim
