#include "distill/kd_strategy.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "nn/safetensors.h"

namespace engram::distill {

namespace {

using train::Role;

// A model file for the offline teacher: a `train` checkpoint (its
// "optimizer.*" entries are skipped) or bare weights with PyTorch names.
// A file of another architecture or class count is a ConfigError naming the
// first tensor that does not fit.
void load_teacher_weights(const std::string& path, const std::string& model, nn::Module& teacher) {
  nn::SafetensorsFile file = nn::load_safetensors(path);
  nn::NamedTensors weights;
  for (auto& entry : file.tensors)
    if (entry.first.rfind("optimizer.", 0) != 0) weights.push_back(entry);
  try {
    teacher.load_state_dict(weights, /*strict=*/true);
  } catch (const ShapeError& e) {
    throw ConfigError("spaced_kd", "teacher_checkpoint",
                      path + " does not fit teacher_model " + model + " on this dataset (" + e.what() + ")");
  } catch (const ValueError& e) {
    throw ConfigError("spaced_kd", "teacher_checkpoint",
                      path + " is not a " + model + " (" + e.what() + ")");
  }
}

}  // namespace

// The training loader keeps the epoch orders a replay buffer straddles: up to ceil(s) + 1 epochs.
int64_t KdStrategy::resident_epochs() const {
  return is_spaced(c_.mode) ? std::max<int64_t>(4, static_cast<int64_t>(std::ceil(c_.s)) + 2) : 4;
}

nlohmann::json KdStrategy::identity() const {
  return {{"mode", mode_name(c_.mode)},        {"s", c_.s},           {"teacher_model", c_.teacher_model},
          {"student_model", c_.student_model}, {"mutual", c_.mutual}, {"teacher_bn", teacher_bn_name(c_.teacher_bn)}};
}

void KdStrategy::build_schedule(int64_t steps_per_epoch) {
  schedule_ = std::make_unique<SpacedSchedule>(is_spaced(c_.mode) ? c_.s : 0.0, steps_per_epoch);
}

void TeacherStudentStrategy::build(const train::RunSetup& setup) {
  build_schedule(setup.steps_per_epoch);
  teacher_ = nn::make_model(c_.teacher_model, setup.in_channels, setup.num_classes);
  teacher_->to(setup.device);
  if (c_.mode == Mode::offline) {
    load_teacher_weights(c_.teacher_checkpoint, c_.teacher_model, *teacher_);
    teacher_->eval();
  } else if (shared_ && shared_->model) {
    teacher_->share_parameters_of(*shared_->model);  // built first all the same: the generator moves as alone
  } else {
    teacher_optimizer_ = train::make_optimizer(setup.config, teacher_->parameters());
    if (shared_) *shared_ = {teacher_, teacher_optimizer_.get()};
  }
  student_ = nn::make_model(c_.student_model, setup.in_channels, setup.num_classes);
  student_->to(setup.device);
  std::vector<Tensor> student_params = student_->parameters();
  if (c_.loss.beta > 0) {
    projector_ = make_projector(student_->feature_dim(), teacher_->feature_dim());
    projector_->to(setup.device);
    for (const Tensor& p : projector_->parameters()) student_params.push_back(p);
  }
  student_optimizer_ = train::make_optimizer(setup.config, std::move(student_params));
}

int64_t TeacherStudentStrategy::max_steps(Role role, int64_t steps) const {
  if (role == Role::teacher) return c_.mode == Mode::offline ? 0 : steps;
  return student_capacity(steps);
}

// In a group, every run's teacher forward pass comes before the owner's
// update: the owner's with gradients, a follower's without (it moves only its
// own BN statistics, as the same pass would alone).
void TeacherStudentStrategy::step_before(const BatchRef&, const data::Batch& batch, train::StepContext&) {
  if (!shared_) return;
  if (follower()) {
    NoGradGuard no_grad;
    teacher_outputs_ = teacher_->forward(batch.images);
  } else {
    teacher_outputs_ = teacher_->forward(batch.images);
  }
}

// A group's step, after every teacher forward pass: the owner learns (the
// group's first run, so before any follower's step), a follower records the
// same loss; then the student's part, as alone.
void TeacherStudentStrategy::shared_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) {
  const nn::ModelOutput t = std::move(teacher_outputs_);
  Tensor teacher_loss = cross_entropy(t.logits, batch.labels, Reduction::mean, c_.loss.label_smoothing);
  if (follower())
    context.record(Role::teacher, teacher_optimizer(), ref, batch, teacher_loss, t.logits);
  else
    context.learn(Role::teacher, teacher_optimizer(), ref, batch, teacher_loss, t.logits);
  if (schedule_->online()) return student_step(ref, batch, &t, context);
  for (const BatchRef& due : schedule_->teacher_stepped(ref)) replay(due, context);
}

void TeacherStudentStrategy::step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) {
  if (shared_) return shared_step(ref, batch, context);
  if (c_.mode == Mode::offline) {
    nn::ModelOutput t;
    {
      NoGradGuard no_grad;
      t = teacher_->forward(batch.images);
    }
    return student_step(ref, batch, &t, context);
  }
  if (schedule_->online()) return online_step(ref, batch, context);
  teacher_step(ref, batch, context);
  for (const BatchRef& due : schedule_->teacher_stepped(ref)) replay(due, context);
}

void TeacherStudentStrategy::finish(train::StepContext& context) {
  for (const BatchRef& ref : schedule_->flush()) replay(ref, context);
}

// Teacher and student on the same batch, the student distilling from the
// teacher's outputs of this step (before its update).
void TeacherStudentStrategy::online_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) {
  nn::ModelOutput t = teacher_->forward(batch.images);
  nn::ModelOutput s = student_->forward(batch.images);
  Tensor teacher_loss = c_.mutual ? mutual_teacher_loss(t, batch.labels, s, c_.loss)
                                  : cross_entropy(t.logits, batch.labels, Reduction::mean, c_.loss.label_smoothing);
  Tensor student_loss = kd_student_loss(s, batch.labels, &t, projector_.get(), c_.loss);
  context.learn(Role::teacher, *teacher_optimizer_, ref, batch, teacher_loss, t.logits);
  context.learn(Role::student, *student_optimizer_, ref, batch, student_loss, s.logits);
}

void TeacherStudentStrategy::teacher_step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) {
  nn::ModelOutput t = teacher_->forward(batch.images);
  Tensor loss = cross_entropy(t.logits, batch.labels, Reduction::mean, c_.loss.label_smoothing);
  context.learn(Role::teacher, *teacher_optimizer_, ref, batch, loss, t.logits);
}

void TeacherStudentStrategy::student_step(const BatchRef& ref, const data::Batch& batch,
                                          const nn::ModelOutput* teacher, train::StepContext& context) {
  nn::ModelOutput s = student_->forward(batch.images);
  Tensor loss = kd_student_loss(s, batch.labels, teacher, projector_.get(), c_.loss);
  context.learn(Role::student, *student_optimizer_, ref, batch, loss, s.logits);
}

// A buffered batch, regenerated bitwise, learned now from the teacher's
// current predictions.
void TeacherStudentStrategy::replay(const BatchRef& ref, train::StepContext& context) {
  data::Batch batch = context.batch(ref);
  nn::ModelOutput t;
  {
    NoGradGuard no_grad;
    if (c_.teacher_bn == TeacherBn::eval) teacher_->eval();
    t = teacher_->forward(batch.images);
    teacher_->train();
  }
  student_step(ref, batch, &t, context);
}

std::vector<train::Evaluated> TeacherStudentStrategy::evaluated() {
  return {{Role::teacher, teacher_.get(), [this](const Tensor& x) { return teacher_->forward(x).logits; }},
          {Role::student, student_.get(), [this](const Tensor& x) { return student_->forward(x).logits; }}};
}

train::CheckpointParts TeacherStudentStrategy::checkpoint_parts() {
  train::CheckpointParts p;
  if (c_.mode != Mode::offline) p.modules.push_back({"teacher", teacher_.get()});
  p.modules.push_back({"student", student_.get()});
  if (projector_) p.modules.push_back({"projector", projector_.get()});
  if (c_.mode != Mode::offline) p.optimizers.push_back({"teacher_optimizer", &teacher_optimizer()});
  p.optimizers.push_back({"student_optimizer", student_optimizer_.get()});
  return p;
}


void SelfKdStrategy::build(const train::RunSetup& setup) {
  build_schedule(setup.steps_per_epoch);
  model_ = nn::make_multi_exit_model(c_.student_model, setup.in_channels, setup.num_classes);
  model_->to(setup.device);
  optimizer_ = train::make_optimizer(setup.config, model_->parameters());
}

int64_t SelfKdStrategy::max_steps(Role role, int64_t steps) const {
  if (c_.mode == Mode::self) return role == Role::student ? steps : 0;
  return role == Role::teacher ? steps : student_capacity(steps);
}

void SelfKdStrategy::step(const BatchRef& ref, const data::Batch& batch, train::StepContext& context) {
  std::vector<nn::ModelOutput> exits = model_->forward(batch.images);
  if (c_.mode == Mode::self) {
    Tensor loss = self_kd_loss(exits, batch.labels, self_loss());
    context.learn(Role::student, *optimizer_, ref, batch, loss, exits.back().logits);
    return;
  }
  // spaced-self: the deepest exit learns every batch now, the shallow exits later.
  Tensor loss = cross_entropy(exits.back().logits, batch.labels);
  context.learn(Role::teacher, *optimizer_, ref, batch, loss, exits.back().logits);
  for (const BatchRef& due : schedule_->teacher_stepped(ref)) shallow_exits_step(due, context);
}

void SelfKdStrategy::finish(train::StepContext& context) {
  for (const BatchRef& ref : schedule_->flush()) shallow_exits_step(ref, context);
}

// The shallow exits' distillation terms alone: the deepest exit is their
// (constant) teacher; gradients reach the shallow heads and the backbone.
void SelfKdStrategy::shallow_exits_step(const BatchRef& ref, train::StepContext& context) {
  data::Batch batch = context.batch(ref);
  std::vector<nn::ModelOutput> exits = model_->forward(batch.images);
  Tensor loss;
  for (size_t i = 0; i + 1 < exits.size(); ++i) {
    Tensor term = shallow_exit_loss(exits[i], exits.back(), batch.labels, self_loss());
    loss = loss.defined() ? add(loss, term) : term;
  }
  context.learn(Role::student, *optimizer_, ref, batch, loss, Tensor());
}

std::vector<train::Evaluated> SelfKdStrategy::evaluated() {
  auto mean_of_exits = [this](const Tensor& x) {
    const std::vector<nn::ModelOutput> exits = model_->forward(x);
    Tensor sum = exits.front().logits;
    for (size_t e = 1; e < exits.size(); ++e) sum = add(sum, exits[e].logits);
    return scale(sum, 1.0 / static_cast<double>(exits.size()));
  };
  return {{Role::student, model_.get(), [this](const Tensor& x) { return model_->forward(x).back().logits; },
           mean_of_exits}};
}

train::CheckpointParts SelfKdStrategy::checkpoint_parts() {
  return {{{"model", model_.get()}}, {{"student_optimizer", optimizer_.get()}}};
}

}  // namespace engram::distill
