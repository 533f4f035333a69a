#include "examples/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "core/autograd.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "examples/progress.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "nn/bn_recalibrate.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "train";
constexpr const char* kCheckpointFormat = "engram.train/1";

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd")
    return std::make_unique<optim::SGD>(std::move(params),
                                        SgdConfig{c.lr, c.momentum, 0.0, c.weight_decay, c.nesterov});
  AdamWConfig adamw;
  adamw.lr = c.lr;
  adamw.weight_decay = c.weight_decay;
  return std::make_unique<optim::AdamW>(std::move(params), adamw);
}

// Milestones and the cosine's length count epochs from the start of training,
// warm-up included (the inner schedule itself starts after the warm-up).
std::unique_ptr<optim::LrSchedule> make_schedule(const TrainConfig& c) {
  double after_warmup = static_cast<double>(c.epochs) - c.warmup_epochs;
  std::unique_ptr<optim::LrSchedule> schedule;
  if (c.schedule == "constant") {
    schedule = optim::constant_lr(c.lr);
  } else if (c.schedule == "multistep") {
    std::vector<double> shifted;
    for (double m : c.milestones) shifted.push_back(m - c.warmup_epochs);
    schedule = optim::multistep_lr(c.lr, shifted, c.gamma);
  } else {
    schedule = optim::cosine_lr(c.lr, after_warmup);
  }
  return c.warmup_epochs > 0 ? optim::with_warmup(std::move(schedule), c.warmup_epochs) : std::move(schedule);
}

// What a resumed run must share with the run that wrote the checkpoint, so
// that its batches and parameter shapes are the same.
nlohmann::json run_identity(const TrainConfig& c) {
  return {{"dataset", c.dataset}, {"model", c.model},     {"batch", c.batch},        {"seed", c.seed},
          {"subset", c.subset},   {"augment", c.augment}, {"optimizer", c.optimizer}};
}

void check_same_run(const nlohmann::json& saved, const TrainConfig& c, const std::string& path) {
  nlohmann::json now = run_identity(c);
  for (auto it = now.begin(); it != now.end(); ++it) {
    ENGRAM_CHECK(saved.contains(it.key()), ValueError, kOp,
                 "--resume " + path + ": the checkpoint does not record --" + it.key());
    ENGRAM_CHECK(saved[it.key()] == it.value(), ValueError, kOp,
                 "--resume " + path + " was written by a run with --" + it.key() + " " + saved[it.key()].dump() +
                     ", this run has --" + it.key() + " " + it.value().dump());
  }
}

// Checked before the dataset is loaded, so that a typo fails at once.
void check_model_name(const std::string& name) {
  std::string known;
  for (const std::string& n : nn::model_names()) {
    if (n == name) return;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw ValueError(std::string(kOp) + ": --model \"" + name + "\" is not in the model zoo, expected one of " + known);
}

double mean_of(const std::vector<float>& values) {
  double total = 0;
  for (float v : values) total += v;
  return values.empty() ? 0.0 : total / static_cast<double>(values.size());
}

// Everything one training run holds: data on the device, model, optimizer, schedule, metrics.
class Run {
 public:
  Run(const TrainConfig& config, const TrainHooks& hooks) : config_(config), hooks_(hooks) {
    validate(config_);
    device_ = resolve_device(config_.device, kOp);
    spec_ = data::dataset_spec(config_.dataset);
    if (!hooks_.make_model) check_model_name(config_.model);
    std::string dir = config_.data_dir.empty() ? data::default_data_dir(config_.dataset) : config_.data_dir;
    data::ImageDataset train_split = data::first_samples(data::load_dataset(config_.dataset, dir, true), config_.subset,
                                                         kOp, "--subset", "training");
    data::ImageDataset test_split = data::first_samples(data::load_dataset(config_.dataset, dir, false),
                                                        config_.test_subset, kOp, "--test-subset", "test");
    ENGRAM_CHECK(config_.batch <= train_split.size(), ValueError, kOp,
                 "--batch " + std::to_string(config_.batch) + " is larger than the " +
                     std::to_string(train_split.size()) + " training images");
    train_data_ = data::DeviceDataset(train_split, device_);
    test_data_ = data::DeviceDataset(test_split, device_);
    num_classes_ = train_split.num_classes;

    manual_seed(config_.seed);  // the weight initialisation depends only on the seed
    model_ = hooks_.make_model ? hooks_.make_model(train_data_.channels(), num_classes_)
                               : nn::make_model(config_.model, train_data_.channels(), num_classes_);
    model_->to(device_);
    optimizer_ = make_optimizer(config_, model_->parameters());
    schedule_ = make_schedule(config_);
  }

  TrainSummary run() {
    TrainSummary summary;
    int64_t first_epoch = config_.resume.empty() ? 0 : resume_from(config_.resume);
    summary.first_epoch = first_epoch;
    data::AugmentSpec train_augment = config_.augment ? spec_.train_augment : spec_.test_augment();
    data::Loader train_loader = data::Loader::training(train_data_, config_.batch, config_.seed, train_augment);
    data::Loader test_loader = data::Loader::evaluation(test_data_, config_.eval_batch, spec_.test_augment());
    print_header(train_loader.steps_per_epoch(), first_epoch);

    for (int64_t epoch = first_epoch; epoch < config_.epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      EpochResult result;
      result.metrics.epoch = epoch + 1;
      result.metrics.lr = schedule_->lr_at(static_cast<double>(epoch));
      train_epoch(train_loader, epoch, result);
      evaluate(test_loader, result.metrics);
      if (config_.bn_recalibrate > 0) evaluate_recalibrated(train_loader, test_loader, epoch, result.metrics);
      result.metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ENGRAM_CHECK(std::isfinite(result.metrics.train_loss), NumericalError, kOp,
                   "the training loss became " + str(result.metrics.train_loss) + " in epoch " +
                       std::to_string(epoch + 1) + " (try a lower --lr); the checkpoint of the previous epoch is kept");
      history_.push_back(result.metrics);
      print_epoch(result.metrics);
      write_metrics_files(config_.out_dir, history_, title());
      summary.checkpoint = save(epoch + 1);
      if (hooks_.on_epoch_end) hooks_.on_epoch_end(result);
      if (hooks_.stop_after_epoch > 0 && epoch + 1 >= hooks_.stop_after_epoch) break;
    }
    if (!history_.empty() && hooks_.log) {
      const EpochMetrics& best = best_epoch(history_);
      std::fprintf(hooks_.log, "train: best test accuracy %.2f %% (epoch %lld), last %.2f %%\n", best.test_accuracy,
                   static_cast<long long>(best.epoch), history_.back().test_accuracy);
    }
    summary.history = history_;
    return summary;
  }

 private:
  void train_epoch(data::Loader& loader, int64_t epoch, EpochResult& result) {
    const int64_t steps = loader.steps_per_epoch();
    model_->train();
    // Per-step loss and correct count, written on the device; read at the epoch's end.
    Tensor step_losses = Tensor::zeros({steps}, DType::f32, device_);
    Tensor step_correct = Tensor::zeros({steps}, DType::i32, device_);
    ProgressBar bar(hooks_.log, ProgressBar::is_terminal(hooks_.log), epoch_label(epoch), steps, config_.batch);
    for (int64_t step = 0; step < steps; ++step) {
      optimizer_->set_lr(schedule_->lr_at(static_cast<double>(epoch) + static_cast<double>(step) / steps));
      data::Batch batch = loader.batch(static_cast<uint64_t>(epoch), step);
      nn::ModelOutput out = model_->forward(batch.images);
      Tensor loss = cross_entropy(out.logits, batch.labels);
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
      {
        NoGradGuard no_grad;
        step_losses.narrow_rows(step, 1).copy_(loss.detach().reshape({1}));
        step_correct.narrow_rows(step, 1).copy_(count_correct(out.logits.detach(), batch.labels).reshape({1}));
      }
      bar.update(step + 1, [&] { return mean_of(step_losses.narrow_rows(0, step + 1).to_vector<float>()); });
    }
    result.step_losses = step_losses.to_vector<float>();
    std::vector<int32_t> correct = step_correct.to_vector<int32_t>();
    result.metrics.train_loss = mean_of(result.step_losses);
    result.metrics.train_accuracy =
        100.0 * std::accumulate(correct.begin(), correct.end(), 0.0) / static_cast<double>(steps * config_.batch);
  }

  void evaluate(data::Loader& loader, EpochMetrics& metrics) {
    nn::Evaluation result =
        nn::evaluate(*model_, loader, [this](const Tensor& images) { return model_->forward(images).logits; });
    metrics.test_loss = result.loss;
    metrics.test_accuracy = result.accuracy;
  }

  void evaluate_recalibrated(data::Loader& train_loader, data::Loader& test_loader, int64_t epoch,
                             EpochMetrics& metrics) {
    auto logits = [this](const Tensor& images) { return model_->forward(images).logits; };
    nn::BatchNormState saved(*model_);
    nn::bn_recalibrate(
        *model_, train_loader, config_.bn_recalibrate, [&](const Tensor& x) { logits(x); },
        static_cast<uint64_t>(epoch));
    metrics.test_accuracy_bn_recal = nn::evaluate(*model_, test_loader, logits).accuracy;
    saved.restore();
  }

  nn::CheckpointParts parts() { return {{{"", model_.get()}}, {{"optimizer", optimizer_.get()}}}; }

  std::string save(int64_t epochs_done) {
    nlohmann::json history = nlohmann::json::array();
    for (const EpochMetrics& m : history_) history.push_back(to_json(m));
    const Generator& gen = default_generator();
    nlohmann::json state = {{"format", kCheckpointFormat},
                            {"epoch", epochs_done},
                            {"step", 0},
                            {"run", run_identity(config_)},
                            {"generator", {{"seed", gen.seed()}, {"offset", gen.offset()}}},
                            {"history", history}};
    std::string path = config_.out_dir + "/last.safetensors";
    nn::save_checkpoint(path, parts(), state);
    return path;
  }

  // Restores model, optimizer, generator and metrics; returns the epoch to continue with.
  int64_t resume_from(const std::string& path) {
    nlohmann::json state = nn::load_checkpoint(path, parts());
    ENGRAM_CHECK(state.value("format", "") == kCheckpointFormat, ValueError, kOp,
                 "--resume " + path + " is not a checkpoint of the training program (format \"" +
                     state.value("format", "") + "\", expected \"" + kCheckpointFormat + "\")");
    check_same_run(state.at("run"), config_, path);
    default_generator().set_state(state.at("generator").at("seed").get<uint64_t>(),
                                  state.at("generator").at("offset").get<uint64_t>());
    history_.clear();
    for (const nlohmann::json& m : state.at("history")) history_.push_back(epoch_metrics_from_json(m));
    return state.at("epoch").get<int64_t>();
  }

  std::string epoch_label(int64_t epoch) const {
    return "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(config_.epochs);
  }

  std::string title() const { return config_.model + " on " + config_.dataset; }

  void print_header(int64_t steps_per_epoch, int64_t first_epoch) const {
    if (!hooks_.log) return;
    std::fprintf(hooks_.log,
                 "train: %s (%lld parameters) on %s: %lld training / %lld test images of %lldx%lldx%lld, %lld "
                 "classes; device %s\n",
                 config_.model.c_str(), static_cast<long long>(model_->parameter_count()), config_.dataset.c_str(),
                 static_cast<long long>(train_data_.size()), static_cast<long long>(test_data_.size()),
                 static_cast<long long>(train_data_.channels()), static_cast<long long>(train_data_.height()),
                 static_cast<long long>(train_data_.width()), static_cast<long long>(num_classes_),
                 device_.str().c_str());
    std::fprintf(
        hooks_.log, "train: %s lr %s, %s schedule, %lld epochs of %lld steps (batch %lld), seed %llu, out %s\n",
        config_.optimizer.c_str(), str(config_.lr).c_str(), config_.schedule.c_str(),
        static_cast<long long>(config_.epochs), static_cast<long long>(steps_per_epoch),
        static_cast<long long>(config_.batch), static_cast<unsigned long long>(config_.seed), config_.out_dir.c_str());
    if (first_epoch > 0)
      std::fprintf(hooks_.log, "train: resumed from %s after epoch %lld\n", config_.resume.c_str(),
                   static_cast<long long>(first_epoch));
    std::fflush(hooks_.log);
  }

  void print_epoch(const EpochMetrics& m) const {
    if (!hooks_.log) return;
    char recal[40] = "";
    if (!std::isnan(m.test_accuracy_bn_recal))
      std::snprintf(recal, sizeof(recal), " (BN recal %.2f %%)", m.test_accuracy_bn_recal);
    std::fprintf(hooks_.log,
                 "epoch %lld/%lld: train loss %.4f acc %.2f %% | test loss %.4f acc %.2f %%%s | lr %.4g | %.1f s\n",
                 static_cast<long long>(m.epoch), static_cast<long long>(config_.epochs), m.train_loss,
                 m.train_accuracy, m.test_loss, m.test_accuracy, recal, m.lr, m.seconds);
    std::fflush(hooks_.log);
  }

  TrainConfig config_;
  TrainHooks hooks_;
  Device device_ = Device::cpu();
  data::DatasetSpec spec_;
  data::DeviceDataset train_data_, test_data_;
  int64_t num_classes_ = 0;
  std::shared_ptr<nn::Classifier> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  std::vector<EpochMetrics> history_;
};

}  // namespace

void validate(const TrainConfig& c) {
  auto one_of = [](const std::string& value, const std::set<std::string>& allowed) { return allowed.count(value) > 0; };
  ENGRAM_CHECK(c.epochs >= 1, ValueError, kOp, "--epochs must be at least 1, got " + std::to_string(c.epochs));
  ENGRAM_CHECK(c.batch >= 1, ValueError, kOp, "--batch must be at least 1, got " + std::to_string(c.batch));
  ENGRAM_CHECK(c.eval_batch >= 1, ValueError, kOp,
               "the evaluation batch must be at least 1, got " + std::to_string(c.eval_batch));
  ENGRAM_CHECK(one_of(c.optimizer, {"sgd", "adamw"}), ValueError, kOp,
               "--optimizer must be sgd or adamw, got \"" + c.optimizer + "\"");
  ENGRAM_CHECK(one_of(c.schedule, {"constant", "multistep", "cosine"}), ValueError, kOp,
               "--schedule must be constant, multistep or cosine, got \"" + c.schedule + "\"");
  ENGRAM_CHECK(c.lr > 0 && std::isfinite(c.lr), ValueError, kOp, "--lr must be > 0, got " + str(c.lr));
  ENGRAM_CHECK(c.momentum >= 0 && c.momentum < 1, ValueError, kOp,
               "--momentum must be in [0, 1), got " + str(c.momentum));
  ENGRAM_CHECK(
      !c.nesterov || (c.optimizer == "sgd" && c.momentum > 0), ValueError, kOp,
      "--nesterov needs --optimizer sgd and --momentum > 0, got " + c.optimizer + " with momentum " + str(c.momentum));
  ENGRAM_CHECK(c.weight_decay >= 0, ValueError, kOp, "--wd must be >= 0, got " + str(c.weight_decay));
  ENGRAM_CHECK(c.gamma > 0, ValueError, kOp, "--gamma must be > 0, got " + str(c.gamma));
  ENGRAM_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs < static_cast<double>(c.epochs), ValueError, kOp,
               "--warmup must be in [0, --epochs = " + std::to_string(c.epochs) + "), got " + str(c.warmup_epochs));
  if (c.schedule == "multistep") {
    ENGRAM_CHECK(!c.milestones.empty(), ValueError, kOp, "--schedule multistep needs --milestones, got none");
    for (size_t i = 0; i < c.milestones.size(); ++i)
      ENGRAM_CHECK(c.milestones[i] >= c.warmup_epochs && (i == 0 || c.milestones[i] > c.milestones[i - 1]), ValueError,
                   kOp,
                   "--milestones must increase and not fall inside the warm-up, got " + str(c.milestones[i]) +
                       " at position " + std::to_string(i + 1));
  }
  ENGRAM_CHECK(c.subset >= 0, ValueError, kOp, "--subset must be >= 0, got " + std::to_string(c.subset));
  ENGRAM_CHECK(c.test_subset >= 0, ValueError, kOp, "--test-subset must be >= 0, got " + std::to_string(c.test_subset));
  ENGRAM_CHECK(c.bn_recalibrate >= 0, ValueError, kOp,
               "--bn-recalibrate must be >= 0 batches, got " + std::to_string(c.bn_recalibrate));
  ENGRAM_CHECK(!c.out_dir.empty(), ValueError, kOp, "--out must name a folder, got an empty string");
}

TrainSummary run_training(const TrainConfig& config, const TrainHooks& hooks) {
  Run run(config, hooks);
  return run.run();
}

}  // namespace engram::train
