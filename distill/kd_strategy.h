#pragma once
// The distillation modes as strategies of the run loop (train/strategy.h);
// distill/kd_run.h describes what each mode does in a step.
#include <memory>
#include <string>

#include "distill/kd_run.h"
#include "distill/self_kd.h"
#include "distill/spaced.h"
#include "nn/multi_exit.h"

namespace engram::distill {

// What every distillation strategy shares: its configuration, the Spaced KD
// schedule (online where the mode has no spacing) and what the run's
// checkpoint keeps of them.
class KdStrategy : public train::Strategy {
 public:
  explicit KdStrategy(KdRunConfig config) : c_(std::move(config)) {}

  std::string name() const override { return mode_name(c_.mode); }
  void validate(const train::TrainConfig&) const override { distill::validate(c_); }
  int64_t resident_epochs() const override;
  nlohmann::json identity() const override;
  nlohmann::json state() const override { return schedule_->state(); }
  void load_state(const nlohmann::json& state) override { schedule_->load_state(state); }

 protected:
  // The schedule of `steps_per_epoch` steps: every s epochs in the spaced modes, online otherwise.
  void build_schedule(int64_t steps_per_epoch);
  // A student's steps in one epoch: its own batches plus at most one interval
  // carried in from the previous epoch and one flushed at the end.
  int64_t student_capacity(int64_t steps) const { return steps + 2 * schedule_->interval(); }

  KdRunConfig c_;
  std::unique_ptr<SpacedSchedule> schedule_;
};

// The teacher a group of online and spaced runs shares (run_kd_group). The
// owner, the group's first run, trains it. Every other run (a follower)
// builds its own teacher as it would alone, then takes the owner's
// parameters in place of its own (Module::share_parameters_of) and keeps its
// own BatchNorm running statistics: a follower's forward passes, its
// replays and its evaluations see exactly what they would in a run alone.
struct SharedTeacher {
  std::shared_ptr<nn::Classifier> model;  // the owner's; null until the owner is built
  optim::Optimizer* optimizer = nullptr;  // the owner's
};

// offline, online and spaced: a teacher and a separate student.
class TeacherStudentStrategy : public KdStrategy {
 public:
  // `shared`: this run's place in a group sharing one teacher (none: alone).
  explicit TeacherStudentStrategy(KdRunConfig config, std::shared_ptr<SharedTeacher> shared = nullptr)
      : KdStrategy(std::move(config)), shared_(std::move(shared)) {}

  std::string models() const override { return c_.teacher_model + " -> " + c_.student_model; }
  void build(const train::RunSetup& setup) override;
  int64_t max_steps(train::Role role, int64_t steps) const override;
  void step_before(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) override;
  void step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) override;
  void finish(train::StepContext& context) override;
  std::vector<train::Evaluated> evaluated() override;
  train::CheckpointParts checkpoint_parts() override;

 private:
  bool follower() const { return shared_ && shared_->model != teacher_; }
  optim::Optimizer& teacher_optimizer() { return follower() ? *shared_->optimizer : *teacher_optimizer_; }
  void shared_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context);
  void online_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context);
  void teacher_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context);
  void student_step(const BatchRef& ref, const data::Batch& batch, const nn::ModelOutput* teacher,
                    train::StepContext& context);
  void replay(const BatchRef& ref, train::StepContext& context);

  std::shared_ptr<nn::Classifier> teacher_, student_;
  std::shared_ptr<nn::Sequential> projector_;
  std::unique_ptr<optim::Optimizer> teacher_optimizer_, student_optimizer_;
  std::shared_ptr<SharedTeacher> shared_;
  nn::ModelOutput teacher_outputs_;  // a group's step: the teacher's forward pass of step_before
};

// self and spaced-self: one multi-exit network, its deepest exit the teacher
// of the shallow ones. In spaced-self the deepest exit's every-step CE is
// recorded as the teacher's training loss (its test columns stay empty: the
// student's are the deepest exit's).
class SelfKdStrategy : public KdStrategy {
 public:
  using KdStrategy::KdStrategy;

  std::string models() const override { return "multi-exit " + c_.student_model; }
  void build(const train::RunSetup& setup) override;
  int64_t max_steps(train::Role role, int64_t steps) const override;
  void step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) override;
  void finish(train::StepContext& context) override;
  std::vector<train::Evaluated> evaluated() override;
  train::CheckpointParts checkpoint_parts() override;

 private:
  SelfKdLossConfig self_loss() const { return {c_.loss.alpha, c_.loss.temperature, c_.loss.beta}; }
  void shallow_exits_step(const BatchRef& ref, train::StepContext& context);

  std::shared_ptr<nn::MultiExitResNet> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

}  // namespace engram::distill
