#include "distill/checkpoint_model.h"

#include "data/dataset.h"
#include "distill/kd_run.h"
#include "nn/models.h"
#include "nn/multi_exit.h"
#include "train/checkpoint.h"

namespace engram::distill {

constexpr const char* kOp = "load_checkpoint_model";

CheckpointModel load_checkpoint_model(const std::string& path, train::Role role) {
  const nlohmann::json run = train::json_value<nlohmann::json>(train::read_checkpoint_state(path), "run", path);
  CheckpointModel m;
  m.mode = train::json_value<std::string>(run, "strategy", path);
  m.dataset = train::json_value<std::string>(run, "dataset", path);
  const Mode mode = parse_mode(m.mode);
  const bool teacher = role == train::Role::teacher;
  ENGRAM_CONFIG_CHECK(!teacher || mode == Mode::online || mode == Mode::spaced, kOp, "role",
                      path + " is a checkpoint of a " + m.mode +
                          " run, which keeps no teacher that trained (online and spaced runs do)");
  const data::DatasetSpec spec = data::dataset_spec(m.dataset);
  std::string prefix;
  if (mode == Mode::baseline) {
    m.name = train::json_value<std::string>(run, "model", path);
  } else {
    m.name = train::json_value<std::string>(run, teacher ? "teacher_model" : "student_model", path);
    prefix = teacher ? "teacher" : (mode == Mode::self || mode == Mode::spaced_self ? "model" : "student");
  }
  if (mode == Mode::self || mode == Mode::spaced_self) {
    std::shared_ptr<nn::MultiExitResNet> net = nn::make_multi_exit_model(m.name, spec.channels, spec.num_classes);
    m.module = net;
    m.logits = [net](const Tensor& x) { return net->forward(x).back().logits; };
  } else {
    std::shared_ptr<nn::Classifier> net = nn::make_model(m.name, spec.channels, spec.num_classes);
    m.module = net;
    m.logits = [net](const Tensor& x) { return net->forward(x).logits; };
  }
  const nlohmann::json state = train::load_checkpoint_module(path, prefix, *m.module);
  m.epochs = train::json_value<int64_t>(state, "epoch", path);
  return m;
}

train::Sharpness model_sharpness(CheckpointModel& m, const SharpnessRequest& request) {
  m.module->to(DType::f64);
  train::TrainingLoss loss(*m.module, train::fixed_training_batches(m.dataset, request.data_dir, request.samples,
                                                                    request.batch),
                           m.logits);
  return train::measure_sharpness(loss, request.options);
}

}  // namespace engram::distill
