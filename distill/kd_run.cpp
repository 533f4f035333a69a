#include "distill/kd_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

#include "core/autograd.h"
#include "core/random.h"
#include "data/dataset.h"
#include "distill/self_kd.h"
#include "kernels/elementwise.h"
#include "nn/bn_recalibrate.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/multi_exit.h"
#include "nn/safetensors.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace engram::distill {

namespace {

constexpr const char* kOp = "spaced_kd";
constexpr const char* kCheckpointFormat = "engram.distill/1";
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

double mean_of(const std::vector<float>& values) {
  double total = std::accumulate(values.begin(), values.end(), 0.0);
  return values.empty() ? kNaN : total / static_cast<double>(values.size());
}

// A model file for the offline teacher: a `train` checkpoint (its
// "optimizer.*" entries are skipped) or bare weights with PyTorch names.
void load_teacher_weights(const std::string& path, nn::Module& teacher) {
  nn::SafetensorsFile file = nn::load_safetensors(path);
  nn::NamedTensors weights;
  for (auto& entry : file.tensors)
    if (entry.first.rfind("optimizer.", 0) != 0) weights.push_back(entry);
  teacher.load_state_dict(weights, /*strict=*/true);
}

nlohmann::json run_identity(const KdRunConfig& c) {
  return {{"mode", mode_name(c.mode)},
          {"s", c.s},
          {"dataset", c.dataset},
          {"teacher_model", c.teacher_model},
          {"student_model", c.student_model},
          {"batch", c.batch},
          {"seed", c.seed},
          {"subset", c.subset},
          {"augment", c.augment},
          {"mutual", c.mutual},
          {"bn_recalibrate", c.bn_recalibrate},
          {"teacher_bn", c.teacher_bn},
          {"epochs", c.epochs}};
}

// Step losses of one epoch, written on the device, read once at its end.
class StepLosses {
 public:
  StepLosses() = default;
  StepLosses(int64_t capacity, Device device) : values_(Tensor::zeros({capacity}, DType::f32, device)) {}
  void record(const Tensor& loss) {
    ENGRAM_CHECK(count_ < values_.size(0), ValueError, kOp, "more steps in one epoch than planned");
    NoGradGuard no_grad;
    values_.narrow_rows(count_++, 1).copy_(loss.detach().reshape({1}));
  }
  int64_t count() const { return count_; }
  // One device-to-host read; resets the count.
  std::vector<float> take() {
    std::vector<float> out = count_ == 0 ? std::vector<float>{} : values_.narrow_rows(0, count_).to_vector<float>();
    count_ = 0;
    return out;
  }

 private:
  Tensor values_;
  int64_t count_ = 0;
};

class KdRun {
 public:
  KdRun(const KdRunConfig& config, const KdHooks& hooks) : c_(config), hooks_(hooks) {
    validate(c_);
    device_ = resolve_device(c_.device, kOp);
    data::DatasetSpec spec = data::dataset_spec(c_.dataset);
    std::string dir = c_.data_dir.empty() ? data::default_data_dir(c_.dataset) : c_.data_dir;
    data::ImageDataset train_split =
        data::first_samples(data::load_dataset(c_.dataset, dir, true), c_.subset, kOp, "--subset", "training");
    data::ImageDataset test_split =
        data::first_samples(data::load_dataset(c_.dataset, dir, false), c_.test_subset, kOp, "--test-subset", "test");
    ENGRAM_CHECK(c_.batch <= train_split.size(), ValueError, kOp,
                 "--batch " + std::to_string(c_.batch) + " is larger than the " + std::to_string(train_split.size()) +
                     " training images");
    train_data_ = data::DeviceDataset(train_split, device_);
    test_data_ = data::DeviceDataset(test_split, device_);

    data::LoaderOptions options;
    options.batch_size = c_.batch;
    options.seed = c_.seed;
    options.augment = c_.augment ? spec.train_augment : spec.test_augment();
    // The buffer straddles up to ceil(s) + 1 epochs; keep all their orders resident.
    options.resident_epochs = std::max<int64_t>(4, static_cast<int64_t>(std::ceil(c_.s)) + 2);
    train_loader_ = std::make_unique<data::Loader>(train_data_, options);
    test_loader_ =
        std::make_unique<data::Loader>(data::Loader::evaluation(test_data_, c_.eval_batch, spec.test_augment()));
    steps_ = train_loader_->steps_per_epoch();
    schedule_ = std::make_unique<SpacedSchedule>(is_spaced(c_.mode) ? c_.s : 0.0, steps_);
    lr_ =
        c_.schedule == "constant" ? optim::constant_lr(c_.lr) : optim::cosine_lr(c_.lr, static_cast<double>(c_.epochs));
    build_models(train_split.num_classes);
    // An epoch's student steps: its own batches plus at most one interval
    // carried in from the previous epoch and one flushed at the end.
    int64_t student_capacity = steps_ + 2 * schedule_->interval();
    teacher_losses_ = StepLosses(steps_, device_);
    student_losses_ = StepLosses(student_capacity, device_);
  }

  KdRunResult run() {
    KdRunResult result;
    int64_t first_epoch = c_.resume.empty() ? 0 : resume_from(c_.resume);
    print_header(first_epoch);
    for (int64_t epoch = first_epoch; epoch < c_.epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      KdEpochMetrics m;
      m.epoch = epoch + 1;
      m.lr = lr_->lr_at(static_cast<double>(epoch));
      for (int64_t step = 0; step < steps_; ++step) train_step({static_cast<uint64_t>(epoch), step});
      if (epoch + 1 == c_.epochs)
        for (const BatchRef& b : schedule_->flush()) student_replay(b);
      finish_epoch(m, result);
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      history_.push_back(m);
      print_epoch(m);
      if (!c_.out_dir.empty()) result.checkpoint = save(epoch + 1);
      if (hooks_.stop_after_epoch > 0 && epoch + 1 >= hooks_.stop_after_epoch) break;
    }
    result.history = history_;
    result.host_reads_per_epoch = host_reads_per_epoch_;
    return result;
  }

 private:
  bool self_mode() const { return c_.mode == Mode::self || c_.mode == Mode::spaced_self; }

  void build_models(int64_t num_classes) {
    const int64_t channels = train_data_.channels();
    manual_seed(c_.seed);  // initialisation depends only on the seed
    SgdConfig sgd{c_.lr, c_.momentum, 0.0, c_.weight_decay, false};
    if (self_mode()) {
      multi_exit_ = nn::make_multi_exit_model(c_.student_model, channels, num_classes);
      multi_exit_->to(device_);
      student_optimizer_ = std::make_unique<optim::SGD>(multi_exit_->parameters(), sgd);
      return;
    }
    if (has_teacher(c_.mode)) {
      teacher_ = nn::make_model(c_.teacher_model, channels, num_classes);
      teacher_->to(device_);
      if (c_.mode == Mode::offline) {
        load_teacher_weights(c_.teacher_checkpoint, *teacher_);
        teacher_->eval();
      } else {
        teacher_optimizer_ = std::make_unique<optim::SGD>(teacher_->parameters(), sgd);
      }
    }
    student_ = nn::make_model(c_.student_model, channels, num_classes);
    student_->to(device_);
    std::vector<Tensor> student_params = student_->parameters();
    if (has_teacher(c_.mode) && c_.loss.beta > 0) {
      projector_ = make_projector(student_->feature_dim(), teacher_->feature_dim());
      projector_->to(device_);
      for (const Tensor& p : projector_->parameters()) student_params.push_back(p);
    }
    student_optimizer_ = std::make_unique<optim::SGD>(std::move(student_params), sgd);
  }

  double lr_of(const BatchRef& b) const {
    return lr_->lr_at(static_cast<double>(b.epoch) + static_cast<double>(b.step) / static_cast<double>(steps_));
  }

  void emit(EventKind kind, const BatchRef& ref, const data::Batch& batch) {
    if (hooks_.on_event) hooks_.on_event({kind, ref, &batch});
  }

  void train_step(const BatchRef& ref) {
    data::Batch batch = train_loader_->batch(ref.epoch, ref.step);
    switch (c_.mode) {
      case Mode::baseline: student_step(ref, batch, nullptr); return;
      case Mode::offline: {
        nn::ModelOutput t;
        {
          NoGradGuard no_grad;
          t = teacher_->forward(batch.images);
        }
        student_step(ref, batch, &t);
        return;
      }
      case Mode::self: self_step(ref, batch); return;
      case Mode::spaced_self: deepest_exit_step(ref, batch); break;
      case Mode::online:
      case Mode::spaced:
        if (schedule_->online()) return online_step(ref, batch);
        teacher_step(ref, batch);
        break;
    }
    for (const BatchRef& due : schedule_->teacher_stepped(ref)) student_replay(due);
  }

  // Teacher and student on the same batch, the student distilling from the
  // teacher's outputs of this step (before its update).
  void online_step(const BatchRef& ref, const data::Batch& batch) {
    nn::ModelOutput t = teacher_->forward(batch.images);
    nn::ModelOutput s = student_->forward(batch.images);
    Tensor teacher_loss = c_.mutual ? mutual_teacher_loss(t, batch.labels, s, c_.loss)
                                    : cross_entropy(t.logits, batch.labels, Reduction::mean, c_.loss.label_smoothing);
    Tensor student_loss = kd_student_loss(s, batch.labels, &t, projector_.get(), c_.loss);
    update(*teacher_optimizer_, teacher_loss, lr_of(ref));
    teacher_losses_.record(teacher_loss);
    emit(EventKind::teacher_step, ref, batch);
    update(*student_optimizer_, student_loss, lr_of(ref));
    student_losses_.record(student_loss);
    emit(EventKind::student_step, ref, batch);
  }

  void teacher_step(const BatchRef& ref, const data::Batch& batch) {
    nn::ModelOutput t = teacher_->forward(batch.images);
    Tensor loss = cross_entropy(t.logits, batch.labels, Reduction::mean, c_.loss.label_smoothing);
    update(*teacher_optimizer_, loss, lr_of(ref));
    teacher_losses_.record(loss);
    emit(EventKind::teacher_step, ref, batch);
  }

  void student_step(const BatchRef& ref, const data::Batch& batch, const nn::ModelOutput* teacher) {
    nn::ModelOutput s = student_->forward(batch.images);
    Tensor loss = kd_student_loss(s, batch.labels, teacher, projector_.get(), c_.loss);
    update(*student_optimizer_, loss, lr_of(ref));
    student_losses_.record(loss);
    emit(EventKind::student_step, ref, batch);
  }

  // A buffered batch, regenerated bitwise, learned now from the teacher's (or
  // the deepest exit's) current predictions.
  void student_replay(const BatchRef& ref) {
    data::Batch batch = train_loader_->batch(ref.epoch, ref.step);
    if (c_.mode == Mode::spaced_self) return shallow_exits_step(ref, batch);
    nn::ModelOutput t;
    {
      NoGradGuard no_grad;
      if (c_.teacher_bn == "eval") teacher_->eval();
      t = teacher_->forward(batch.images);
      teacher_->train();
    }
    student_step(ref, batch, &t);
  }

  SelfKdLossConfig self_loss() const { return {c_.loss.alpha, c_.loss.temperature, c_.loss.beta}; }

  void self_step(const BatchRef& ref, const data::Batch& batch) {
    std::vector<nn::ModelOutput> exits = multi_exit_->forward(batch.images);
    Tensor loss = self_kd_loss(exits, batch.labels, self_loss());
    update(*student_optimizer_, loss, lr_of(ref));
    student_losses_.record(loss);
    emit(EventKind::teacher_step, ref, batch);
    emit(EventKind::student_step, ref, batch);
  }

  void deepest_exit_step(const BatchRef& ref, const data::Batch& batch) {
    std::vector<nn::ModelOutput> exits = multi_exit_->forward(batch.images);
    Tensor loss = cross_entropy(exits.back().logits, batch.labels);
    update(*student_optimizer_, loss, lr_of(ref));
    teacher_losses_.record(loss);
    emit(EventKind::teacher_step, ref, batch);
  }

  // The shallow exits' distillation terms alone: the deepest exit is their
  // (constant) teacher; gradients reach the shallow heads and the backbone.
  void shallow_exits_step(const BatchRef& ref, const data::Batch& batch) {
    std::vector<nn::ModelOutput> exits = multi_exit_->forward(batch.images);
    Tensor loss;
    for (size_t i = 0; i + 1 < exits.size(); ++i) {
      Tensor term = shallow_exit_loss(exits[i], exits.back(), batch.labels, self_loss());
      loss = loss.defined() ? add(loss, term) : term;
    }
    update(*student_optimizer_, loss, lr_of(ref));
    student_losses_.record(loss);
    emit(EventKind::student_step, ref, batch);
  }

  static void update(optim::Optimizer& optimizer, const Tensor& loss, double lr) {
    optimizer.zero_grad();
    loss.backward();
    optimizer.set_lr(lr);
    optimizer.step();
  }

  void finish_epoch(KdEpochMetrics& m, KdRunResult& result) {
    m.student_steps = student_losses_.count();
    int64_t reads = (teacher_losses_.count() > 0 ? 1 : 0) + (student_losses_.count() > 0 ? 1 : 0);
    std::vector<float> teacher = teacher_losses_.take();
    std::vector<float> student = student_losses_.take();
    result.teacher_step_losses.insert(result.teacher_step_losses.end(), teacher.begin(), teacher.end());
    result.student_step_losses.insert(result.student_step_losses.end(), student.begin(), student.end());
    m.teacher_train_loss = mean_of(teacher);
    m.student_train_loss = mean_of(student);
    for (double v : {m.teacher_train_loss, m.student_train_loss})
      ENGRAM_CHECK(std::isnan(v) || std::isfinite(v), NumericalError, kOp,
                   "a training loss became " + str(v) + " in epoch " + std::to_string(m.epoch) +
                       " (try a lower --lr); the checkpoint of the previous epoch is kept");
    // NaN marks "no steps" above; a NaN loss value shows up as a non-finite mean too.
    for (const std::vector<float>* losses : {&teacher, &student})
      for (float v : *losses)
        ENGRAM_CHECK(std::isfinite(v), NumericalError, kOp,
                     "a training loss became " + str(v) + " in epoch " + std::to_string(m.epoch) +
                         " (try a lower --lr); the checkpoint of the previous epoch is kept");
    m.teacher_test_loss = m.teacher_test_accuracy = m.teacher_recalibrated_accuracy = kNaN;
    const uint64_t epoch = static_cast<uint64_t>(m.epoch - 1);
    // Test loss and accuracy, and the accuracy after BN recalibration when asked for.
    auto evaluate = [&](nn::Module& model, const std::function<Tensor(const Tensor&)>& logits, double& loss,
                        double& accuracy, double& recalibrated) {
      nn::Evaluation e = nn::evaluate(model, *test_loader_, logits);
      loss = e.loss;
      accuracy = e.accuracy;
      recalibrated = c_.bn_recalibrate > 0 ? recalibrated_accuracy(model, logits, epoch) : kNaN;
      reads += c_.bn_recalibrate > 0 ? 4 : 2;
    };
    if (teacher_)
      evaluate(
          *teacher_, [this](const Tensor& x) { return teacher_->forward(x).logits; }, m.teacher_test_loss,
          m.teacher_test_accuracy, m.teacher_recalibrated_accuracy);
    if (self_mode())
      evaluate(
          *multi_exit_, [this](const Tensor& x) { return multi_exit_->forward(x).back().logits; }, m.student_test_loss,
          m.student_test_accuracy, m.student_recalibrated_accuracy);
    else
      evaluate(
          *student_, [this](const Tensor& x) { return student_->forward(x).logits; }, m.student_test_loss,
          m.student_test_accuracy, m.student_recalibrated_accuracy);
    host_reads_per_epoch_ = reads;
  }

  // The test accuracy with BN statistics recomputed on this epoch's first
  // training batches; the model's own statistics are put back afterwards.
  double recalibrated_accuracy(nn::Module& model, const std::function<Tensor(const Tensor&)>& logits, uint64_t epoch) {
    nn::BatchNormState saved(model);
    nn::bn_recalibrate(
        model, *train_loader_, c_.bn_recalibrate, [&](const Tensor& x) { logits(x); }, epoch);
    double accuracy = nn::evaluate(model, *test_loader_, logits).accuracy;
    saved.restore();
    return accuracy;
  }

  nn::CheckpointParts parts() {
    nn::CheckpointParts p;
    if (multi_exit_) p.modules.push_back({"model", multi_exit_.get()});
    if (teacher_ && c_.mode != Mode::offline) p.modules.push_back({"teacher", teacher_.get()});
    if (student_) p.modules.push_back({"student", student_.get()});
    if (projector_) p.modules.push_back({"projector", projector_.get()});
    if (teacher_optimizer_) p.optimizers.push_back({"teacher_optimizer", teacher_optimizer_.get()});
    p.optimizers.push_back({"student_optimizer", student_optimizer_.get()});
    return p;
  }

  std::string save(int64_t epochs_done) {
    nlohmann::json history = nlohmann::json::array();
    for (const KdEpochMetrics& m : history_) history.push_back(to_json(m));
    const Generator& gen = default_generator();
    nlohmann::json state = {{"format", kCheckpointFormat},
                            {"epoch", epochs_done},
                            {"run", run_identity(c_)},
                            {"generator", {{"seed", gen.seed()}, {"offset", gen.offset()}}},
                            {"replay_buffer", schedule_->state()},
                            {"history", history}};
    std::filesystem::create_directories(c_.out_dir);
    std::string path = c_.out_dir + "/last.safetensors";
    nn::save_checkpoint(path, parts(), state);
    return path;
  }

  int64_t resume_from(const std::string& path) {
    nlohmann::json state = nn::load_checkpoint(path, parts());
    ENGRAM_CHECK(state.value("format", "") == kCheckpointFormat, ValueError, kOp,
                 "--resume " + path + " is not a checkpoint of a distillation run (format \"" +
                     state.value("format", "") + "\", expected \"" + kCheckpointFormat + "\")");
    nlohmann::json now = run_identity(c_);
    for (auto it = now.begin(); it != now.end(); ++it)
      ENGRAM_CHECK(state.at("run").contains(it.key()) && state.at("run")[it.key()] == it.value(), ValueError, kOp,
                   "--resume " + path + " was written by a run with " + it.key() + " = " +
                       state.at("run").value(it.key(), nlohmann::json()).dump() + ", this run has " +
                       it.value().dump());
    default_generator().set_state(state.at("generator").at("seed").get<uint64_t>(),
                                  state.at("generator").at("offset").get<uint64_t>());
    schedule_->load_state(state.at("replay_buffer"));
    history_.clear();
    for (const nlohmann::json& m : state.at("history")) history_.push_back(kd_epoch_metrics_from_json(m));
    return state.at("epoch").get<int64_t>();
  }

  void print_header(int64_t first_epoch) const {
    if (!hooks_.log) return;
    std::string models = self_mode()            ? "multi-exit " + c_.student_model
                         : has_teacher(c_.mode) ? c_.teacher_model + " -> " + c_.student_model
                                                : c_.student_model;
    std::fprintf(hooks_.log,
                 "%s: %s (%s), s %s (interval %lld steps of %lld per epoch), %lld training / %lld test images of "
                 "%s, seed %llu, device %s\n",
                 kOp, mode_name(c_.mode).c_str(), models.c_str(), str(is_spaced(c_.mode) ? c_.s : 0.0).c_str(),
                 static_cast<long long>(schedule_->interval()), static_cast<long long>(steps_),
                 static_cast<long long>(train_data_.size()), static_cast<long long>(test_data_.size()),
                 c_.dataset.c_str(), static_cast<unsigned long long>(c_.seed), device_.str().c_str());
    if (first_epoch > 0)
      std::fprintf(hooks_.log, "%s: resumed from %s after epoch %lld\n", kOp, c_.resume.c_str(),
                   static_cast<long long>(first_epoch));
    std::fflush(hooks_.log);
  }

  void print_epoch(const KdEpochMetrics& m) const {
    if (!hooks_.log) return;
    std::fprintf(hooks_.log, "%s epoch %lld/%lld: ", mode_name(c_.mode).c_str(), static_cast<long long>(m.epoch),
                 static_cast<long long>(c_.epochs));
    auto recalibrated = [](double v) {
      char buf[32] = "";
      if (!std::isnan(v)) std::snprintf(buf, sizeof(buf), " (BN recal %.2f %%)", v);
      return std::string(buf);
    };
    // A loss is NaN when no step of that model ran in the epoch (a spaced student between replays).
    auto loss = [](double v) {
      char buf[32] = "-";
      if (!std::isnan(v)) std::snprintf(buf, sizeof(buf), "%.4f", v);
      return std::string(buf);
    };
    if (!std::isnan(m.teacher_test_accuracy))
      std::fprintf(hooks_.log, "teacher loss %s test %.2f %%%s | ", loss(m.teacher_train_loss).c_str(),
                   m.teacher_test_accuracy, recalibrated(m.teacher_recalibrated_accuracy).c_str());
    std::fprintf(hooks_.log, "student loss %s test %.2f %%%s (%lld steps) | lr %.4g | %.1f s\n",
                 loss(m.student_train_loss).c_str(), m.student_test_accuracy,
                 recalibrated(m.student_recalibrated_accuracy).c_str(), static_cast<long long>(m.student_steps), m.lr,
                 m.seconds);
    std::fflush(hooks_.log);
  }

  KdRunConfig c_;
  KdHooks hooks_;
  Device device_ = Device::cpu();
  data::DeviceDataset train_data_, test_data_;
  std::unique_ptr<data::Loader> train_loader_, test_loader_;
  int64_t steps_ = 0;
  std::unique_ptr<SpacedSchedule> schedule_;
  std::unique_ptr<optim::LrSchedule> lr_;
  std::shared_ptr<nn::Classifier> teacher_, student_;
  std::shared_ptr<nn::Sequential> projector_;
  std::shared_ptr<nn::MultiExitResNet> multi_exit_;
  std::unique_ptr<optim::SGD> teacher_optimizer_, student_optimizer_;
  StepLosses teacher_losses_, student_losses_;
  std::vector<KdEpochMetrics> history_;
  int64_t host_reads_per_epoch_ = 0;
};

}  // namespace

nlohmann::json to_json(const KdEpochMetrics& m) {
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"epoch", m.epoch},
          {"lr", m.lr},
          {"teacher_train_loss", number(m.teacher_train_loss)},
          {"teacher_test_loss", number(m.teacher_test_loss)},
          {"teacher_test_acc", number(m.teacher_test_accuracy)},
          {"student_train_loss", number(m.student_train_loss)},
          {"student_test_loss", number(m.student_test_loss)},
          {"student_test_acc", number(m.student_test_accuracy)},
          {"teacher_test_acc_bn_recal", number(m.teacher_recalibrated_accuracy)},
          {"student_test_acc_bn_recal", number(m.student_recalibrated_accuracy)},
          {"student_steps", m.student_steps},
          {"seconds", m.seconds}};
}

KdEpochMetrics kd_epoch_metrics_from_json(const nlohmann::json& j) {
  auto number = [&](const char* key) { return j.at(key).is_null() ? kNaN : j.at(key).get<double>(); };
  KdEpochMetrics m;
  m.epoch = j.at("epoch").get<int64_t>();
  m.lr = number("lr");
  m.teacher_train_loss = number("teacher_train_loss");
  m.teacher_test_loss = number("teacher_test_loss");
  m.teacher_test_accuracy = number("teacher_test_acc");
  m.student_train_loss = number("student_train_loss");
  m.student_test_loss = number("student_test_loss");
  m.student_test_accuracy = number("student_test_acc");
  m.teacher_recalibrated_accuracy = number("teacher_test_acc_bn_recal");
  m.student_recalibrated_accuracy = number("student_test_acc_bn_recal");
  m.student_steps = j.at("student_steps").get<int64_t>();
  m.seconds = number("seconds");
  return m;
}

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
  throw ValueError(std::string(kOp) + ": --mode \"" + name +
                   "\" is not a mode, expected baseline, offline, online, spaced, self or spaced-self");
}

bool has_teacher(Mode mode) { return mode == Mode::offline || mode == Mode::online || mode == Mode::spaced; }
bool is_spaced(Mode mode) { return mode == Mode::spaced || mode == Mode::spaced_self; }

void validate(const KdRunConfig& c) {
  auto check_model = [](const std::string& flag, const std::string& name) {
    std::string known;
    for (const std::string& n : nn::model_names()) {
      if (n == name) return;
      known += (known.empty() ? "" : ", ") + n;
    }
    throw ValueError(std::string(kOp) + ": " + flag + " \"" + name + "\" is not in the model zoo, expected one of " +
                     known);
  };
  ENGRAM_CHECK(c.epochs >= 1, ValueError, kOp, "--epochs must be at least 1, got " + std::to_string(c.epochs));
  ENGRAM_CHECK(c.batch >= 1, ValueError, kOp, "--batch must be at least 1, got " + std::to_string(c.batch));
  ENGRAM_CHECK(c.eval_batch >= 1, ValueError, kOp,
               "the evaluation batch must be at least 1, got " + std::to_string(c.eval_batch));
  ENGRAM_CHECK(c.s >= 0 && std::isfinite(c.s), ValueError, kOp, "--s must be >= 0 (epochs), got " + str(c.s));
  ENGRAM_CHECK(c.lr > 0 && std::isfinite(c.lr), ValueError, kOp, "--lr must be > 0, got " + str(c.lr));
  ENGRAM_CHECK(c.momentum >= 0 && c.momentum < 1, ValueError, kOp,
               "--momentum must be in [0, 1), got " + str(c.momentum));
  ENGRAM_CHECK(c.weight_decay >= 0, ValueError, kOp, "--wd must be >= 0, got " + str(c.weight_decay));
  ENGRAM_CHECK(c.schedule == "cosine" || c.schedule == "constant", ValueError, kOp,
               "--schedule must be cosine or constant, got \"" + c.schedule + "\"");
  ENGRAM_CHECK(c.loss.alpha >= 0 && c.loss.alpha <= 1, ValueError, kOp,
               "--alpha must be in [0, 1], got " + str(c.loss.alpha));
  ENGRAM_CHECK(c.loss.temperature > 0, ValueError, kOp, "--temperature must be > 0, got " + str(c.loss.temperature));
  ENGRAM_CHECK(c.loss.beta >= 0, ValueError, kOp, "--beta must be >= 0, got " + str(c.loss.beta));
  ENGRAM_CHECK(c.loss.label_smoothing >= 0 && c.loss.label_smoothing < 1, ValueError, kOp,
               "--label-smoothing must be in [0, 1), got " + str(c.loss.label_smoothing));
  ENGRAM_CHECK(c.teacher_bn == "train" || c.teacher_bn == "eval", ValueError, kOp,
               "--teacher-bn must be train or eval, got \"" + c.teacher_bn + "\"");
  ENGRAM_CHECK(!c.mutual || c.mode == Mode::online || (c.mode == Mode::spaced && c.s == 0), ValueError, kOp,
               "--mutual needs online KD (--mode online, or spaced with --s 0), got --mode " + mode_name(c.mode) +
                   " with s " + str(c.s));
  ENGRAM_CHECK(c.mode != Mode::offline || !c.teacher_checkpoint.empty(), ValueError, kOp,
               "--mode offline needs --teacher-checkpoint FILE (e.g. the last.safetensors of a `train` run)");
  ENGRAM_CHECK(c.subset >= 0, ValueError, kOp, "--subset must be >= 0, got " + std::to_string(c.subset));
  ENGRAM_CHECK(c.bn_recalibrate >= 0, ValueError, kOp,
               "--bn-recalibrate must be >= 0 batches, got " + std::to_string(c.bn_recalibrate));
  ENGRAM_CHECK(c.test_subset >= 0, ValueError, kOp, "--test-subset must be >= 0, got " + std::to_string(c.test_subset));
  if (c.mode == Mode::self || c.mode == Mode::spaced_self) {
    ENGRAM_CHECK(c.loss.label_smoothing == 0 && c.loss.kl_form == KLForm::standard, ValueError, kOp,
                 "--label-smoothing and --kl reference apply to teacher-student KD; --mode " + mode_name(c.mode) +
                     " uses BYOT's losses (distill/self_kd.h)");
    nn::make_multi_exit_model(c.student_model, 1, 2);  // rejects a model without a multi-exit form, naming them
    return;
  }
  check_model("--student", c.student_model);
  if (has_teacher(c.mode)) check_model("--teacher", c.teacher_model);
}

KdRunResult run_kd(const KdRunConfig& config, const KdHooks& hooks) {
  KdRun run(config, hooks);
  return run.run();
}

}  // namespace engram::distill
