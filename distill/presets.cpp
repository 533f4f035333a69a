#include "distill/presets.h"

#include "core/error.h"

namespace engram::distill {

namespace {

// The CPU budget is sized so that its rows (baseline, online, spaced; 1 + 2
// + 2 model trainings per seed) finish in under 10 minutes on 2 cores.
Preset fashion_mnist(bool gpu) {
  Preset p;
  p.name = gpu ? "gpu" : "cpu";
  p.s = {1.5};
  KdRunConfig& c = p.config;
  c.teacher_model = gpu ? "resnet56" : "resnet8";
  c.student_model = gpu ? "resnet20" : "resnet8";
  c.train.epochs = gpu ? 40 : 3;
  c.train.subset = gpu ? 0 : 4096;
  c.train.test_subset = gpu ? 0 : 2000;
  c.train.bn_recalibrate = gpu ? 50 : 10;
  p.seeds = 3;
  return p;
}

// The reference code's published run: ResNet-18 teacher and student, 80
// epochs of SGD at a constant lr 0.01, and its KD weights (notes/).
Preset paper(const std::string& dataset) {
  Preset p;
  p.name = dataset;
  p.s = {1.5};
  KdRunConfig& c = p.config;
  c.teacher_model = c.student_model = "resnet18";
  c.loss.alpha = 0.3;
  c.loss.temperature = 3;
  c.loss.beta = 0.03;
  train::TrainConfig& t = c.train;
  t.dataset = dataset;
  t.epochs = 80;
  t.batch = 128;
  t.lr = 0.01;
  t.momentum = 0.9;
  t.weight_decay = 5e-4;
  t.schedule = train::ScheduleKind::constant;
  t.crop_padding = 4;
  t.rotation_degrees = dataset == "cifar100" ? 15 : 0;
  t.bn_recalibrate = 50;
  p.seeds = 3;
  return p;
}

}  // namespace

std::vector<std::string> preset_names() { return {"cpu", "gpu", "cifar100", "tiny-imagenet"}; }

Preset preset(const std::string& name) {
  if (name == "cpu" || name == "gpu") return fashion_mnist(name == "gpu");
  if (name == "cifar100" || name == "tiny-imagenet") return paper(name);
  std::string names;
  for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError("spaced_kd", "preset", "must be auto, " + names + "; got \"" + name + "\"");
}

}  // namespace engram::distill
