#include "train/run.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/autograd.h"
#include "core/random.h"
#include "train/bn_recalibrate.h"
#include "train/evaluate.h"
#include "train/interrupt.h"
#include "train/progress.h"
#include "train/run_data.h"
#include "train/step_records.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "train";
constexpr const char* kCheckpointFormat = "engram.run/1";

const char* role_name(Role role) { return role == Role::student ? "student" : "teacher"; }

// What a resumed run must share with the run that wrote the checkpoint, so
// that its batches, parameter shapes and schedule are the same.
nlohmann::json run_identity(const TrainConfig& c, const Strategy& strategy) {
  nlohmann::json identity = {{"strategy", strategy.name()},   {"dataset", c.dataset}, {"batch", c.batch},
                             {"seed", c.seed},                {"subset", c.subset},   {"augment", c.augment},
                             {"optimizer", optimizer_name(c.optimizer)}, {"epochs", c.epochs}};
  // Only when set, so that the checkpoints of runs without them still resume.
  if (c.crop_padding >= 0) identity["crop_padding"] = c.crop_padding;
  if (c.rotation_degrees > 0) identity["rotation_degrees"] = c.rotation_degrees;
  const nlohmann::json models = strategy.identity();
  for (auto it = models.begin(); it != models.end(); ++it) identity[it.key()] = it.value();
  return identity;
}

// Where a run continues: after `epoch` whole epochs and `step` steps of the next.
struct Position {
  int64_t epoch = 0, step = 0;
};

class Loop : public StepContext {
 public:
  Loop(const TrainConfig& config, Strategy& strategy, const RunHooks& hooks)
      : c_(config), strategy_(strategy), hooks_(hooks) {
    validate(c_);
    strategy_.validate(c_);
    data_ = load_run_data(c_, strategy_.resident_epochs());
    // An output folder that cannot be written fails now, not after the first epoch.
    if (!c_.out_dir.empty()) prepare_output_folder(c_.out_dir, kOp);
    steps_ = data_.train_loader->steps_per_epoch();
    manual_seed(c_.seed);  // the weight initialisation depends only on the seed
    strategy_.build({c_, data_.device, data_.train.channels(), data_.num_classes, steps_});
    schedule_ = make_schedule(c_);
    records_[0] = StepRecords(strategy_.max_steps(Role::student, steps_), data_.device);
    records_[1] = StepRecords(strategy_.max_steps(Role::teacher, steps_), data_.device);
  }

  // Resumes if asked and prints the header: where the run starts.
  Position start() {
    resumed_ = c_.resume.empty() ? Position{} : resume_from(c_.resume);
    result_.first_epoch = resumed_.epoch;
    print_header(resumed_);
    return resumed_;
  }

  int64_t epochs() const { return c_.epochs; }
  int64_t steps() const { return steps_; }

  void begin_epoch(int64_t epoch) {
    epoch_start_ = std::chrono::steady_clock::now();
    bar_ = std::make_unique<ProgressBar>(
        hooks_.log, ProgressBar::is_terminal(hooks_.log),
        name() + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c_.epochs), steps_, c_.batch);
  }

  // The strategy's part of step `ref` before (`before`) or after any model
  // of a lockstep group has learned from the batch (train/strategy.h).
  void step(const BatchRef& ref, bool before) {
    try {
      if (before) {
        current_ = data_.train_loader->batch(ref.epoch, ref.step);  // built once, for both parts
        return strategy_.step_before(ref, current_, *this);
      }
      strategy_.step(ref, current_, *this);
    } catch (const OutOfMemoryError& e) {
      throw OutOfMemoryError(std::string(e.what()) + "; " + name() + " (" + strategy_.models() +
                             ") asked for it at step " + std::to_string(ref.step + 1) + " of epoch " +
                             std::to_string(ref.epoch + 1) + " with batch " + std::to_string(c_.batch) +
                             " (a smaller --batch needs less); the checkpoint of the previous epoch is kept");
    } catch (const NumericalError& e) {
      if (!c_.detect_anomaly) throw;
      throw NumericalError(std::string(e.what()) + "; in " + name() + " (" + strategy_.models() + ") at step " +
                           std::to_string(ref.step + 1) + " of epoch " + std::to_string(ref.epoch + 1) +
                           "; the checkpoint of the previous epoch is kept");
    }
    bar_->update(ref.step + 1, [this] { return running_loss(); });
  }

  // After the epoch's steps: the records, evaluations, metrics files and
  // checkpoint. False when the run stops here (RunHooks::stop_after_epoch).
  bool end_epoch(int64_t epoch) {
    if (epoch + 1 == c_.epochs) strategy_.finish(*this);
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.lr = schedule_->lr_at(static_cast<double>(epoch));
    int64_t reads = read_records(m, result_);
    reads += evaluate_models(m);
    result_.host_reads_per_epoch = reads;
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
    history_.push_back(m);
    print_epoch(m);
    if (!c_.out_dir.empty()) {
      write_metrics_files(c_.out_dir, history_, strategy_.models() + " on " + c_.dataset);
      result_.checkpoint = save({epoch + 1, 0});
    }
    if (hooks_.on_epoch_end) hooks_.on_epoch_end(m);
    return !(hooks_.stop_after_epoch > 0 && epoch + 1 >= hooks_.stop_after_epoch);
  }

  RunResult finish() {
    if (!history_.empty() && hooks_.log) {
      const EpochMetrics& best = best_epoch(history_);
      std::fprintf(hooks_.log, "%s: best test accuracy %.2f %% (epoch %lld), last %.2f %%\n", name().c_str(),
                   best.student.test_accuracy, static_cast<long long>(best.epoch),
                   history_.back().student.test_accuracy);
    }
    result_.history = history_;
    return result_;
  }

  // The checkpoint at a step boundary, with a stop request: the unfinished
  // epoch's step records go into the checkpoint.
  RunResult interrupted(const Position& at) {
    result_.interrupted = true;
    result_.history = history_;
    if (!c_.out_dir.empty()) result_.checkpoint = save(at);
    if (hooks_.log) {
      std::fprintf(hooks_.log, "%s: interrupted after step %lld of epoch %lld", name().c_str(),
                   static_cast<long long>(at.step), static_cast<long long>(at.epoch + 1));
      if (!result_.checkpoint.empty())
        std::fprintf(hooks_.log, "; %s continues it (resume)", result_.checkpoint.c_str());
      std::fprintf(hooks_.log, "\n");
      std::fflush(hooks_.log);
    }
    return result_;
  }

  data::Batch batch(const BatchRef& ref) override { return data_.train_loader->batch(ref.epoch, ref.step); }

  void learn(Role role, optim::Optimizer& optimizer, const BatchRef& ref, const data::Batch& batch,
             const Tensor& loss, const Tensor& logits) override {
    optimizer.zero_grad();
    loss.backward();
    optimizer.set_lr(
        schedule_->lr_at(static_cast<double>(ref.epoch) + static_cast<double>(ref.step) / static_cast<double>(steps_)));
    optimizer.step();
    // Its gradients were checked by backward(); here its update is.
    if (c_.detect_anomaly && optimizer.nonfinite().defined())
      ENGRAM_CHECK(optimizer.nonfinite().to(Device::cpu()).data<int32_t>()[0] == 0, NumericalError, "detect_anomaly",
                   std::string("the ") + role_name(role) + "'s parameters hold NaN or Inf after its update on batch " +
                       std::to_string(ref.step) + " of epoch " + std::to_string(ref.epoch + 1));
    record(role, optimizer, ref, batch, loss, logits);
  }

  void record(Role role, const optim::Optimizer& optimizer, const BatchRef& ref, const data::Batch& batch,
              const Tensor& loss, const Tensor& logits) override {
    records(role).record(ref, loss, logits, batch.labels, optimizer.nonfinite());
    if (hooks_.on_step) hooks_.on_step({role, ref, &batch});
  }

 private:
  std::string name() const { return strategy_.name(); }
  StepRecords& records(Role role) { return records_[role == Role::student ? 0 : 1]; }

  // The student's running loss, or the teacher's while the student waits for a replay.
  double running_loss() {
    StepRecords& shown = records(Role::student).count() > 0 ? records(Role::student) : records(Role::teacher);
    return shown.running_loss();
  }

  // The teacher's records are read first: its faults reach the student
  // through distillation, never the other way (without --mutual).
  int64_t read_records(EpochMetrics& m, RunResult& result) {
    int64_t reads = 0;
    for (Role role : {Role::teacher, Role::student}) {
      ModelMetrics& model = role == Role::student ? m.student : m.teacher;
      model.steps = records(role).count();
      StepRecords::Epoch e = records(role).take();
      reads += e.host_reads;
      check_finite(role, e, m.epoch);
      model.train_loss = e.mean_loss;
      model.train_accuracy = e.accuracy;
      std::vector<float>& all = role == Role::student ? result.student_step_losses : result.teacher_step_losses;
      all.insert(all.end(), e.losses.begin(), e.losses.end());
    }
    return reads;
  }

  // NumericalError at the first step whose loss, gradients or updated
  // parameters held NaN or Inf, naming which of the three came first.
  void check_finite(Role role, const StepRecords::Epoch& e, int64_t epoch) {
    const int64_t steps = static_cast<int64_t>(e.losses.size());
    for (int64_t i = 0; i < steps; ++i) {
      const float loss = e.losses[i];
      // The optimizer's bits are cumulative: a step's new faults are the bits it added.
      const int32_t added = e.nonfinite[i] & ~(i > 0 ? e.nonfinite[i - 1] : 0);
      if (std::isfinite(loss) && added == 0) continue;
      std::string what = std::string("the ") + role_name(role) + "'s ";
      if (!std::isfinite(loss))
        what += "training loss became " + message_number(loss);
      else if (added & optim::Optimizer::kNonfiniteGradient)
        what += "gradients held NaN or Inf (the loss was " + message_number(loss) + ")";
      else
        what += "parameters held NaN or Inf after the update (loss " + message_number(loss) +
                " and gradients finite; the lr times the gradient overflowed)";
      throw NumericalError(std::string(kOp) + ": " + what + " at its step " + std::to_string(i + 1) + " of " +
                           std::to_string(steps) + " in epoch " + std::to_string(epoch) + " (on batch " +
                           std::to_string(e.batches[i].step) + " of epoch " + std::to_string(e.batches[i].epoch + 1) +
                           "; try a lower lr); the checkpoint of the previous epoch is kept");
    }
  }

  // Test loss and accuracy of every model, and the accuracy after BN
  // recalibration on this epoch's first training batches (the model's own
  // statistics are put back afterwards). Returns the host reads.
  int64_t evaluate_models(EpochMetrics& m) {
    int64_t reads = 0;
    for (const Evaluated& e : strategy_.evaluated()) {
      ModelMetrics& model = e.role == Role::student ? m.student : m.teacher;
      Evaluation result = evaluate(*e.model, *data_.test_loader, e.logits);
      model.test_loss = result.loss;
      model.test_accuracy = result.accuracy;
      reads += 2;
      if (e.ensemble_logits) {  // a second pass: evaluate() scores one prediction per image
        model.test_accuracy_ensemble = evaluate(*e.model, *data_.test_loader, e.ensemble_logits).accuracy;
        reads += 2;
      }
      if (c_.bn_recalibrate > 0) {
        BatchNormState saved(*e.model);
        bn_recalibrate(
            *e.model, *data_.train_loader, c_.bn_recalibrate, [&](const Tensor& x) { e.logits(x); },
            static_cast<uint64_t>(m.epoch - 1));
        model.test_accuracy_bn_recal = evaluate(*e.model, *data_.test_loader, e.logits).accuracy;
        saved.restore();
        reads += 2;
      }
    }
    return reads;
  }

  std::string save(const Position& at) {
    nlohmann::json history = nlohmann::json::array();
    for (const EpochMetrics& m : history_) history.push_back(to_json(m));
    const Generator& gen = default_generator();
    nlohmann::json records = nullptr;
    if (at.step > 0)
      records = {{"student", records_[0].state()}, {"teacher", records_[1].state()}};
    nlohmann::json state = {{"format", kCheckpointFormat},
                            {"epoch", at.epoch},
                            {"step", at.step},
                            {"records", records},
                            {"run", run_identity(c_, strategy_)},
                            {"generator", {{"seed", gen.seed()}, {"offset", gen.offset()}}},
                            {"strategy", strategy_.state()},
                            {"history", history}};
    std::filesystem::create_directories(c_.out_dir);
    std::string path = c_.out_dir + "/last.safetensors";
    save_checkpoint(path, strategy_.checkpoint_parts(), state);
    return path;
  }

  // Restores the strategy's models, optimisers and state, the generator, the
  // metrics and an unfinished epoch's step records; returns where to continue.
  Position resume_from(const std::string& path) {
    nlohmann::json state = load_checkpoint(path, strategy_.checkpoint_parts());
    const std::string format = json_value<std::string>(state, "format", path);
    ENGRAM_CONFIG_CHECK(format == kCheckpointFormat, kOp, "resume",
                        path + " is not a checkpoint of a training run (format \"" + format + "\", expected \"" +
                            kCheckpointFormat + "\")");
    const nlohmann::json saved = json_value<nlohmann::json>(state, "run", path);
    ENGRAM_CHECK(saved.is_object(), IOError, kOp, path + ": \"run\" must be an object, got " + saved.dump());
    const nlohmann::json now = run_identity(c_, strategy_);
    nlohmann::json keys = now;
    keys.update(saved);  // a key either side lacks differs too
    std::string differences;
    for (auto it = keys.begin(); it != keys.end(); ++it) {
      const nlohmann::json before = saved.value(it.key(), nlohmann::json()), after = now.value(it.key(), nlohmann::json());
      if (before != after)
        differences += (differences.empty() ? "" : "; ") + it.key() + " " + before.dump() + ", this run has " + after.dump();
    }
    ENGRAM_CONFIG_CHECK(differences.empty(), kOp, "resume", path + " was written by a run with " + differences);
    const nlohmann::json generator = json_value<nlohmann::json>(state, "generator", path);
    default_generator().set_state(json_value<uint64_t>(generator, "seed", path),
                                  json_value<uint64_t>(generator, "offset", path));
    strategy_.load_state(json_value<nlohmann::json>(state, "strategy", path));
    history_.clear();
    for (const nlohmann::json& m : json_value<nlohmann::json>(state, "history", path)) {
      try {
        history_.push_back(epoch_metrics_from_json(m));
      } catch (const IOError& e) {
        throw IOError(std::string(kOp) + ": " + path + ": " + e.what());
      }
    }
    const Position at{json_value<int64_t>(state, "epoch", path), json_value<int64_t>(state, "step", path)};
    ENGRAM_CHECK(at.step >= 0 && at.step < steps_, IOError, kOp,
                 path + ": step " + std::to_string(at.step) + " is not a step of an epoch of " +
                     std::to_string(steps_));
    if (at.step > 0) {
      const nlohmann::json records = json_value<nlohmann::json>(state, "records", path);
      records_[0].load_state(json_value<nlohmann::json>(records, "student", path));
      records_[1].load_state(json_value<nlohmann::json>(records, "teacher", path));
    }
    return at;
  }

  void print_header(const Position& start) const {
    if (!hooks_.log) return;
    std::fprintf(hooks_.log,
                 "%s: %s on %s: %lld training / %lld test images of %lldx%lldx%lld, %lld classes; device %s\n",
                 name().c_str(), strategy_.models().c_str(), c_.dataset.c_str(),
                 static_cast<long long>(data_.train.size()), static_cast<long long>(data_.test.size()),
                 static_cast<long long>(data_.train.channels()), static_cast<long long>(data_.train.height()),
                 static_cast<long long>(data_.train.width()), static_cast<long long>(data_.num_classes),
                 data_.device.str().c_str());
    std::fprintf(hooks_.log, "%s: %s lr %s, %s schedule, %lld epochs of %lld steps (batch %lld), seed %llu%s%s\n",
                 name().c_str(), optimizer_name(c_.optimizer), message_number(c_.lr).c_str(), schedule_name(c_.schedule),
                 static_cast<long long>(c_.epochs), static_cast<long long>(steps_), static_cast<long long>(c_.batch),
                 static_cast<unsigned long long>(c_.seed), c_.out_dir.empty() ? "" : ", out ", c_.out_dir.c_str());
    if (start.epoch > 0 || start.step > 0)
      std::fprintf(hooks_.log, "%s: resumed from %s after epoch %lld, step %lld\n", name().c_str(), c_.resume.c_str(),
                   static_cast<long long>(start.epoch), static_cast<long long>(start.step));
    std::fflush(hooks_.log);
  }

  // "-" for a figure not measured (a spaced student between replays, no recalibration).
  static std::string figure(double v, const char* format) {
    char buf[32] = "-";
    if (!std::isnan(v)) std::snprintf(buf, sizeof(buf), format, v);
    return buf;
  }

  static std::string model_line(const ModelMetrics& m) {
    std::string line = "train loss " + figure(m.train_loss, "%.4f") + " acc " + figure(m.train_accuracy, "%.2f %%") +
                       " | test loss " + figure(m.test_loss, "%.4f") + " acc " + figure(m.test_accuracy, "%.2f %%");
    if (!std::isnan(m.test_accuracy_bn_recal)) line += " (BN recal " + figure(m.test_accuracy_bn_recal, "%.2f %%") + ")";
    return line + " (" + std::to_string(m.steps) + " steps)";
  }

  void print_epoch(const EpochMetrics& m) const {
    if (!hooks_.log) return;
    std::string line = name() + " epoch " + std::to_string(m.epoch) + "/" + std::to_string(c_.epochs) + ": ";
    if (m.has_teacher()) line += "teacher " + model_line(m.teacher) + " || student ";
    line += model_line(m.student) + " | lr " + figure(m.lr, "%.4g") + " | " + figure(m.seconds, "%.1f s");
    std::fprintf(hooks_.log, "%s\n", line.c_str());
    std::fflush(hooks_.log);
  }

  const TrainConfig& c_;
  Strategy& strategy_;
  const RunHooks& hooks_;
  RunData data_;
  int64_t steps_ = 0;
  std::unique_ptr<optim::LrSchedule> schedule_;
  StepRecords records_[2];
  std::vector<EpochMetrics> history_;
  RunResult result_;
  Position resumed_;
  std::unique_ptr<ProgressBar> bar_;
  data::Batch current_;  // the step's batch, from step_before to step
  std::chrono::steady_clock::time_point epoch_start_;
};

}  // namespace

std::vector<RunResult> run_lockstep(const std::vector<Member>& members) {
  ENGRAM_CHECK(!members.empty(), ValueError, kOp, "run_lockstep needs at least one run");
  AnomalyDetectionGuard anomaly(members.front().config.detect_anomaly);
  std::vector<std::unique_ptr<Loop>> loops;
  for (const Member& m : members) loops.push_back(std::make_unique<Loop>(m.config, m.strategy, m.hooks));
  Position at = loops.front()->start();
  for (size_t k = 1; k < loops.size(); ++k) {
    const Position other = loops[k]->start();
    ENGRAM_CONFIG_CHECK(other.epoch == at.epoch && other.step == at.step, kOp, "resume",
                        "the runs of a group resume together, but " + members[k].config.resume + " is at epoch " +
                            std::to_string(other.epoch) + " step " + std::to_string(other.step) + " and " +
                            members[0].config.resume + " at epoch " + std::to_string(at.epoch) + " step " +
                            std::to_string(at.step));
    ENGRAM_CONFIG_CHECK(loops[k]->epochs() == loops[0]->epochs() && loops[k]->steps() == loops[0]->steps(), kOp,
                        "epochs", "the runs of a group take the same epochs and steps");
  }
  std::vector<RunResult> results;
  for (int64_t epoch = at.epoch; epoch < loops.front()->epochs(); ++epoch) {
    for (auto& loop : loops) loop->begin_epoch(epoch);
    for (int64_t step = epoch == at.epoch ? at.step : 0; step < loops.front()->steps(); ++step) {
      if (stop_requested()) {
        clear_stop_request();
        for (auto& loop : loops) results.push_back(loop->interrupted({epoch, step}));
        return results;
      }
      const BatchRef ref{static_cast<uint64_t>(epoch), step};
      for (auto& loop : loops) loop->step(ref, /*before=*/true);
      for (auto& loop : loops) loop->step(ref, /*before=*/false);
    }
    bool go_on = true;
    for (auto& loop : loops) go_on = loop->end_epoch(epoch) && go_on;
    if (!go_on) break;
  }
  for (auto& loop : loops) results.push_back(loop->finish());
  return results;
}

RunResult run(const TrainConfig& config, Strategy& strategy, const RunHooks& hooks) {
  return run_lockstep({{config, strategy, hooks}}).front();
}

}  // namespace engram::train
