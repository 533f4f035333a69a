#include "train/config.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "data/augment.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "train";

}  // namespace

const char* optimizer_name(OptimizerKind kind) { return kind == OptimizerKind::sgd ? "sgd" : "adamw"; }

OptimizerKind parse_optimizer(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::sgd, OptimizerKind::adamw})
    if (name == optimizer_name(k)) return k;
  throw ConfigError(kOp, "optimizer", "must be sgd or adamw, got \"" + name + "\"");
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::multistep: return "multistep";
    case ScheduleKind::cosine: return "cosine";
  }
  return "?";
}

ScheduleKind parse_schedule(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::constant, ScheduleKind::multistep, ScheduleKind::cosine})
    if (name == schedule_name(k)) return k;
  throw ConfigError(kOp, "schedule", "must be constant, multistep or cosine, got \"" + name + "\"");
}

void validate(const TrainConfig& c) {
  ENGRAM_CONFIG_CHECK(c.epochs >= 1, kOp, "epochs", "must be at least 1, got " + std::to_string(c.epochs));
  ENGRAM_CONFIG_CHECK(c.batch >= 1, kOp, "batch", "must be at least 1, got " + std::to_string(c.batch));
  ENGRAM_CONFIG_CHECK(c.eval_batch >= 1, kOp, "eval_batch", "must be at least 1, got " + std::to_string(c.eval_batch));
  ENGRAM_CONFIG_CHECK(c.lr > 0 && std::isfinite(c.lr), kOp, "lr", "must be > 0, got " + message_number(c.lr));
  ENGRAM_CONFIG_CHECK(c.momentum >= 0 && c.momentum < 1, kOp, "momentum", "must be in [0, 1), got " + message_number(c.momentum));
  ENGRAM_CONFIG_CHECK(!c.nesterov || (c.optimizer == OptimizerKind::sgd && c.momentum > 0), kOp, "nesterov",
                      std::string("needs optimizer sgd and momentum > 0, got ") + optimizer_name(c.optimizer) +
                          " with momentum " + message_number(c.momentum));
  ENGRAM_CONFIG_CHECK(c.weight_decay >= 0, kOp, "weight_decay", "must be >= 0, got " + message_number(c.weight_decay));
  ENGRAM_CONFIG_CHECK(c.gamma > 0, kOp, "gamma", "must be > 0, got " + message_number(c.gamma));
  ENGRAM_CONFIG_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs < static_cast<double>(c.epochs), kOp, "warmup_epochs",
                      "must be in [0, epochs = " + std::to_string(c.epochs) + "), got " + message_number(c.warmup_epochs));
  if (c.schedule == ScheduleKind::multistep) {
    ENGRAM_CONFIG_CHECK(!c.milestones.empty(), kOp, "milestones", "must not be empty for the multistep schedule");
    for (size_t i = 0; i < c.milestones.size(); ++i)
      ENGRAM_CONFIG_CHECK(c.milestones[i] >= c.warmup_epochs && (i == 0 || c.milestones[i] > c.milestones[i - 1]), kOp,
                          "milestones",
                          "must increase and not fall inside the warm-up, got " + message_number(c.milestones[i]) +
                              " at position " + std::to_string(i + 1));
  }
  ENGRAM_CONFIG_CHECK(c.crop_padding >= -1, kOp, "crop_padding",
                      "must be >= 0 pixels (or -1: the dataset's), got " + std::to_string(c.crop_padding));
  ENGRAM_CONFIG_CHECK(c.rotation_degrees >= 0 && c.rotation_degrees <= data::kMaxRotationDegrees, kOp,
                      "rotation_degrees",
                      "must be in [0, " + std::to_string(data::kMaxRotationDegrees) + "] degrees, got " +
                          message_number(c.rotation_degrees));
  ENGRAM_CONFIG_CHECK(c.subset >= 0, kOp, "subset", "must be >= 0, got " + std::to_string(c.subset));
  ENGRAM_CONFIG_CHECK(c.test_subset >= 0, kOp, "test_subset", "must be >= 0, got " + std::to_string(c.test_subset));
  ENGRAM_CONFIG_CHECK(c.bn_recalibrate >= 0, kOp, "bn_recalibrate",
                      "must be >= 0 batches, got " + std::to_string(c.bn_recalibrate));
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == OptimizerKind::sgd) {
    SgdConfig sgd;
    sgd.lr = c.lr;
    sgd.momentum = c.momentum;
    sgd.weight_decay = c.weight_decay;
    sgd.nesterov = c.nesterov;
    return std::make_unique<optim::SGD>(std::move(params), sgd);
  }
  AdamWConfig adamw;
  adamw.lr = c.lr;
  adamw.weight_decay = c.weight_decay;
  return std::make_unique<optim::AdamW>(std::move(params), adamw);
}

std::unique_ptr<optim::LrSchedule> make_schedule(const TrainConfig& c) {
  std::unique_ptr<optim::LrSchedule> schedule;
  switch (c.schedule) {
    case ScheduleKind::constant: schedule = optim::constant_lr(c.lr); break;
    case ScheduleKind::multistep: {
      std::vector<double> shifted;
      for (double m : c.milestones) shifted.push_back(m - c.warmup_epochs);
      schedule = optim::multistep_lr(c.lr, shifted, c.gamma);
      break;
    }
    case ScheduleKind::cosine: schedule = optim::cosine_lr(c.lr, static_cast<double>(c.epochs) - c.warmup_epochs); break;
  }
  return c.warmup_epochs > 0 ? optim::with_warmup(std::move(schedule), c.warmup_epochs) : std::move(schedule);
}

}  // namespace engram::train
