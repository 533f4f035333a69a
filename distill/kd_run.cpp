#include "distill/kd_run.h"

#include <cmath>

#include "distill/kd_strategy.h"
#include "train/baseline.h"

namespace engram::distill {

namespace {

constexpr const char* kOp = "spaced_kd";

}  // namespace

std::string mode_name(Mode mode) {
  switch (mode) {
    case Mode::baseline: return "baseline";
    case Mode::offline: return "offline";
    case Mode::online: return "online";
    case Mode::spaced: return "spaced";
    case Mode::self: return "self";
    case Mode::spaced_self: return "spaced-self";
  }
  return "?";
}

Mode parse_mode(const std::string& name) {
  for (Mode m : {Mode::baseline, Mode::offline, Mode::online, Mode::spaced, Mode::self, Mode::spaced_self})
    if (mode_name(m) == name) return m;
  throw ConfigError(kOp, "mode",
                    "\"" + name + "\" is not a mode, expected baseline, offline, online, spaced, self or spaced-self");
}

bool has_teacher(Mode mode) { return mode == Mode::offline || mode == Mode::online || mode == Mode::spaced; }
bool is_spaced(Mode mode) { return mode == Mode::spaced || mode == Mode::spaced_self; }

const char* teacher_bn_name(TeacherBn mode) { return mode == TeacherBn::train ? "train" : "eval"; }

TeacherBn parse_teacher_bn(const std::string& name) {
  if (name == "train") return TeacherBn::train;
  if (name == "eval") return TeacherBn::eval;
  throw ConfigError(kOp, "teacher_bn", "must be train or eval, got \"" + name + "\"");
}

void validate(const KdRunConfig& c) {
  ENGRAM_CONFIG_CHECK(c.s >= 0 && std::isfinite(c.s), kOp, "s", "must be >= 0 (epochs), got " + message_number(c.s));
  ENGRAM_CONFIG_CHECK(c.loss.alpha >= 0 && c.loss.alpha <= 1, kOp, "alpha", "must be in [0, 1], got " + message_number(c.loss.alpha));
  ENGRAM_CONFIG_CHECK(c.loss.temperature > 0, kOp, "temperature", "must be > 0, got " + message_number(c.loss.temperature));
  ENGRAM_CONFIG_CHECK(c.loss.beta >= 0, kOp, "beta", "must be >= 0, got " + message_number(c.loss.beta));
  ENGRAM_CONFIG_CHECK(c.loss.label_smoothing >= 0 && c.loss.label_smoothing < 1, kOp, "label_smoothing",
                      "must be in [0, 1), got " + message_number(c.loss.label_smoothing));
  ENGRAM_CONFIG_CHECK(!c.mutual || c.mode == Mode::online || (c.mode == Mode::spaced && c.s == 0), kOp, "mutual",
                      "needs online KD (mode online, or spaced with s 0), got mode " + mode_name(c.mode) + " with s " +
                          message_number(c.s));
  ENGRAM_CONFIG_CHECK(c.mode != Mode::offline || !c.teacher_checkpoint.empty(), kOp, "teacher_checkpoint",
                      "is needed by mode offline (e.g. the last.safetensors of a `train` run)");
  if (c.mode == Mode::self || c.mode == Mode::spaced_self) {
    ENGRAM_CONFIG_CHECK(c.loss.label_smoothing == 0 && c.loss.kl_form == KLForm::standard, kOp,
                        c.loss.label_smoothing != 0 ? "label_smoothing" : "kl_form",
                        "applies to teacher-student KD; mode " + mode_name(c.mode) +
                            " uses BYOT's losses (distill/self_kd.h)");
    nn::make_multi_exit_model(c.student_model, 1, 2);  // rejects a model without a multi-exit form, naming them
    return;
  }
  train::check_model_name("student_model", c.student_model);
  if (has_teacher(c.mode)) train::check_model_name("teacher_model", c.teacher_model);
}

std::unique_ptr<train::Strategy> make_strategy(const KdRunConfig& config) {
  switch (config.mode) {
    case Mode::baseline:
      return std::make_unique<train::BaselineStrategy>(config.student_model, config.loss.label_smoothing);
    case Mode::offline:
    case Mode::online:
    case Mode::spaced: return std::make_unique<TeacherStudentStrategy>(config);
    case Mode::self:
    case Mode::spaced_self: return std::make_unique<SelfKdStrategy>(config);
  }
  throw ValueError(std::string(kOp) + ": unknown mode");
}

train::RunResult run_kd(const KdRunConfig& config, const train::RunHooks& hooks) {
  validate(config);
  std::unique_ptr<train::Strategy> strategy = make_strategy(config);
  return train::run(config.train, *strategy, hooks);
}

bool can_share_teacher(const KdRunConfig& a, const KdRunConfig& b) {
  auto teacher_trains = [](const KdRunConfig& c) {
    return (c.mode == Mode::online || c.mode == Mode::spaced) && !c.mutual;
  };
  const train::TrainConfig &x = a.train, &y = b.train;
  return teacher_trains(a) && teacher_trains(b) && a.teacher_model == b.teacher_model &&
         a.loss.label_smoothing == b.loss.label_smoothing && x.dataset == y.dataset && x.data_dir == y.data_dir &&
         x.epochs == y.epochs && x.batch == y.batch && x.optimizer == y.optimizer && x.lr == y.lr &&
         x.momentum == y.momentum && x.weight_decay == y.weight_decay && x.nesterov == y.nesterov &&
         x.schedule == y.schedule && x.milestones == y.milestones && x.gamma == y.gamma &&
         x.warmup_epochs == y.warmup_epochs && x.seed == y.seed && x.device == y.device && x.augment == y.augment &&
         x.crop_padding == y.crop_padding && x.rotation_degrees == y.rotation_degrees && x.subset == y.subset &&
         x.detect_anomaly == y.detect_anomaly;
}

std::vector<train::RunResult> run_kd_group(const std::vector<KdRunConfig>& configs,
                                           const std::vector<train::RunHooks>& hooks) {
  ENGRAM_CHECK(!configs.empty() && hooks.size() == configs.size(), ValueError, kOp,
               "run_kd_group needs one set of hooks per run");
  for (const KdRunConfig& c : configs) {
    validate(c);
    ENGRAM_CONFIG_CHECK(can_share_teacher(configs.front(), c), kOp, "mode",
                        "runs share a teacher only in online or spaced KD without mutual, with the same teacher and "
                        "training; mode " + mode_name(c.mode) + " cannot join mode " +
                            mode_name(configs.front().mode));
  }
  auto shared = std::make_shared<SharedTeacher>();
  std::vector<std::unique_ptr<train::Strategy>> strategies;
  std::vector<train::Member> members;
  for (const KdRunConfig& c : configs) strategies.push_back(std::make_unique<TeacherStudentStrategy>(c, shared));
  for (size_t k = 0; k < configs.size(); ++k) members.push_back({configs[k].train, *strategies[k], hooks[k]});
  return train::run_lockstep(members);
}

}  // namespace engram::distill
