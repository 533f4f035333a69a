#include "examples/train_flags.h"

#include <map>

namespace engram::programs {

TrainFlags::TrainFlags(CLI::App& app, train::TrainConfig& config)
    : app_(app),
      config_(config),
      optimizer_(train::optimizer_name(config.optimizer)),
      schedule_(train::schedule_name(config.schedule)),
      device_(device_request_name(config.device)) {
  app.add_option("--dataset", config.dataset, "fashion-mnist, mnist, cifar10, cifar100 or tiny-imagenet")
      ->capture_default_str();
  app.add_option("--data", config.data_dir, "dataset folder (default: the dataset's usual folder, see docs/cli.md)");
  app.add_option("--epochs", config.epochs, "training epochs")->capture_default_str();
  app.add_option("--batch", config.batch, "training batch size")->capture_default_str();
  app.add_option("--eval-batch", config.eval_batch, "evaluation batch size")->capture_default_str();
  app.add_option("--optimizer", optimizer_, "sgd or adamw")->capture_default_str();
  app.add_option("--lr", config.lr, "peak learning rate (adamw default: 0.001)")->capture_default_str();
  app.add_option("--momentum", config.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--wd", config.weight_decay, "weight decay (adamw default: 0.01, decoupled)")->capture_default_str();
  app.add_flag("--nesterov", config.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--schedule", schedule_, "constant, multistep or cosine")->capture_default_str();
  app.add_option("--milestones", config.milestones, "multistep: epochs at which lr *= gamma, e.g. 100,150")
      ->delimiter(',');
  app.add_option("--gamma", config.gamma, "multistep: lr factor at each milestone")->capture_default_str();
  app.add_option("--warmup", config.warmup_epochs, "epochs of linear warm-up from lr/10 (fractions allowed)")
      ->capture_default_str();
  app.add_option("--bn-recalibrate", config.bn_recalibrate,
                 "also report test accuracy after recomputing BN statistics on N training batches (0: off)")
      ->capture_default_str();
  app.add_flag("--detect-anomaly", config.detect_anomaly,
               "stop at the first op whose output or gradient holds NaN or Inf (slow; for debugging)");
  app.add_option("--seed", config.seed, "seed of the initialisation, the shuffles and the augmentation")
      ->capture_default_str();
  app.add_option("--device", device_, "auto, cpu or cuda")->capture_default_str();
  app.add_flag("--no-augment", no_augment_, "train without the dataset's random crops and flips (normalise only)");
  app.add_option("--crop-padding", config.crop_padding,
                 "padding of the random crop in pixels (-1: the dataset's, 0: no crop)")
      ->capture_default_str();
  app.add_option("--rotation", config.rotation_degrees, "random rotation in [-D, D] degrees, D <= 45 (0: none)")
      ->capture_default_str();
  app.add_option("--subset", config.subset, "train on the first N training images (0: all)");
  app.add_option("--test-subset", config.test_subset, "evaluate on the first N test images (0: all)");
}

void TrainFlags::apply() {
  config_.optimizer = train::parse_optimizer(optimizer_);
  config_.schedule = train::parse_schedule(schedule_);
  config_.device = parse_device_request(device_);
  config_.augment = !no_augment_;
  if (config_.optimizer == train::OptimizerKind::adamw) {
    if (!given("--lr")) config_.lr = 1e-3;
    if (!given("--wd")) config_.weight_decay = 1e-2;
  }
}

std::string flag_of(const std::string& field) {
  static const std::map<std::string, std::string> renamed = {
      {"data_dir", "--data"},         {"weight_decay", "--wd"},     {"warmup_epochs", "--warmup"},
      {"out_dir", "--out"},           {"augment", "--no-augment"},  {"student_model", "--student"},
      {"teacher_model", "--teacher"}, {"kl_form", "--kl"},          {"mode", "--modes"},
      {"rotation_degrees", "--rotation"}};
  auto it = renamed.find(field);
  if (it != renamed.end()) return it->second;
  std::string flag = "--" + field;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

std::string program_message(const std::string& program, const Error& error) {
  if (const auto* config = dynamic_cast<const ConfigError*>(&error))
    return program + ": " + flag_of(config->field()) + " " + config->problem();
  return error.what();
}

}  // namespace engram::programs
