#include "train/run.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/random.h"
#include "train/bn_recalibrate.h"
#include "train/evaluate.h"
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
  const nlohmann::json models = strategy.identity();
  for (auto it = models.begin(); it != models.end(); ++it) identity[it.key()] = it.value();
  return identity;
}

class Loop : public StepContext {
 public:
  Loop(const TrainConfig& config, Strategy& strategy, const RunHooks& hooks)
      : c_(config), strategy_(strategy), hooks_(hooks) {
    validate(c_);
    strategy_.validate(c_);
    data_ = load_run_data(c_, strategy_.resident_epochs());
    steps_ = data_.train_loader->steps_per_epoch();
    manual_seed(c_.seed);  // the weight initialisation depends only on the seed
    strategy_.build({c_, data_.device, data_.train.channels(), data_.num_classes, steps_});
    schedule_ = make_schedule(c_);
    records_[0] = StepRecords(strategy_.max_steps(Role::student, steps_), data_.device);
    records_[1] = StepRecords(strategy_.max_steps(Role::teacher, steps_), data_.device);
  }

  RunResult run() {
    RunResult result;
    result.first_epoch = c_.resume.empty() ? 0 : resume_from(c_.resume);
    print_header(result.first_epoch);
    for (int64_t epoch = result.first_epoch; epoch < c_.epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      EpochMetrics m;
      m.epoch = epoch + 1;
      m.lr = schedule_->lr_at(static_cast<double>(epoch));
      ProgressBar bar(hooks_.log, ProgressBar::is_terminal(hooks_.log),
                      name() + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c_.epochs), steps_,
                      c_.batch);
      for (int64_t step = 0; step < steps_; ++step) {
        const BatchRef ref{static_cast<uint64_t>(epoch), step};
        strategy_.step(ref, data_.train_loader->batch(ref.epoch, ref.step), *this);
        bar.update(step + 1, [this] { return running_loss(); });
      }
      if (epoch + 1 == c_.epochs) strategy_.finish(*this);
      int64_t reads = read_records(m, result);
      reads += evaluate_models(m);
      result.host_reads_per_epoch = reads;
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      history_.push_back(m);
      print_epoch(m);
      if (!c_.out_dir.empty()) {
        write_metrics_files(c_.out_dir, history_, strategy_.models() + " on " + c_.dataset);
        result.checkpoint = save(epoch + 1);
      }
      if (hooks_.on_epoch_end) hooks_.on_epoch_end(m);
      if (hooks_.stop_after_epoch > 0 && epoch + 1 >= hooks_.stop_after_epoch) break;
    }
    if (!history_.empty() && hooks_.log) {
      const EpochMetrics& best = best_epoch(history_);
      std::fprintf(hooks_.log, "%s: best test accuracy %.2f %% (epoch %lld), last %.2f %%\n", name().c_str(),
                   best.student.test_accuracy, static_cast<long long>(best.epoch),
                   history_.back().student.test_accuracy);
    }
    result.history = history_;
    return result;
  }

  double lr_of(const BatchRef& ref) const override {
    return schedule_->lr_at(static_cast<double>(ref.epoch) + static_cast<double>(ref.step) / static_cast<double>(steps_));
  }

  data::Batch batch(const BatchRef& ref) override { return data_.train_loader->batch(ref.epoch, ref.step); }

  void stepped(Role role, const BatchRef& ref, const data::Batch& batch, const Tensor& loss,
               const Tensor& logits) override {
    records(role).record(loss, logits, batch.labels);
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

  int64_t read_records(EpochMetrics& m, RunResult& result) {
    int64_t reads = 0;
    for (Role role : {Role::student, Role::teacher}) {
      ModelMetrics& model = role == Role::student ? m.student : m.teacher;
      model.steps = records(role).count();
      StepRecords::Epoch e = records(role).take();
      reads += e.host_reads;
      for (float v : e.losses)
        ENGRAM_CHECK(std::isfinite(v), NumericalError, kOp,
                     std::string("the ") + role_name(role) + "'s training loss became " + message_number(v) + " in epoch " +
                         std::to_string(m.epoch) + " (try a lower lr); the checkpoint of the previous epoch is kept");
      model.train_loss = e.mean_loss;
      model.train_accuracy = e.accuracy;
      std::vector<float>& all = role == Role::student ? result.student_step_losses : result.teacher_step_losses;
      all.insert(all.end(), e.losses.begin(), e.losses.end());
    }
    return reads;
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

  std::string save(int64_t epochs_done) {
    nlohmann::json history = nlohmann::json::array();
    for (const EpochMetrics& m : history_) history.push_back(to_json(m));
    const Generator& gen = default_generator();
    nlohmann::json state = {{"format", kCheckpointFormat},
                            {"epoch", epochs_done},
                            {"run", run_identity(c_, strategy_)},
                            {"generator", {{"seed", gen.seed()}, {"offset", gen.offset()}}},
                            {"strategy", strategy_.state()},
                            {"history", history}};
    std::filesystem::create_directories(c_.out_dir);
    std::string path = c_.out_dir + "/last.safetensors";
    save_checkpoint(path, strategy_.checkpoint_parts(), state);
    return path;
  }

  // Restores the strategy's models, optimisers and state, the generator and
  // the metrics; returns the epoch to continue with.
  int64_t resume_from(const std::string& path) {
    nlohmann::json state = load_checkpoint(path, strategy_.checkpoint_parts());
    const std::string format = json_value<std::string>(state, "format", path);
    ENGRAM_CONFIG_CHECK(format == kCheckpointFormat, kOp, "resume",
                        path + " is not a checkpoint of a training run (format \"" + format + "\", expected \"" +
                            kCheckpointFormat + "\")");
    const nlohmann::json saved = json_value<nlohmann::json>(state, "run", path);
    const nlohmann::json now = run_identity(c_, strategy_);
    for (auto it = now.begin(); it != now.end(); ++it)
      ENGRAM_CONFIG_CHECK(saved.contains(it.key()) && saved[it.key()] == it.value(), kOp, "resume",
                          path + " was written by a run with " + it.key() + " " +
                              saved.value(it.key(), nlohmann::json()).dump() + ", this run has " + it.value().dump());
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
    return json_value<int64_t>(state, "epoch", path);
  }

  void print_header(int64_t first_epoch) const {
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
    if (first_epoch > 0)
      std::fprintf(hooks_.log, "%s: resumed from %s after epoch %lld\n", name().c_str(), c_.resume.c_str(),
                   static_cast<long long>(first_epoch));
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
};

}  // namespace

void optimizer_step(optim::Optimizer& optimizer, const Tensor& loss, double lr) {
  optimizer.zero_grad();
  loss.backward();
  optimizer.set_lr(lr);
  optimizer.step();
}

RunResult run(const TrainConfig& config, Strategy& strategy, const RunHooks& hooks) {
  Loop loop(config, strategy, hooks);
  return loop.run();
}

}  // namespace engram::train
