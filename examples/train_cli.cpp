#include "examples/train_cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/error.h"

namespace engram::train {

Preset default_preset() {
  return {"train", "engram train: an image classifier from the model zoo on one dataset", TrainConfig{}};
}

Preset cifar_preset() {
  Preset preset{"train_cifar", "engram train_cifar: ResNet-18 on CIFAR-10/100 (SGD 0.1, cosine, 200 epochs)",
                TrainConfig{}};
  preset.defaults.dataset = "cifar10";
  preset.defaults.model = "resnet18";
  preset.defaults.epochs = 200;
  preset.defaults.out_dir = "runs/cifar";
  return preset;
}

Preset tiny_imagenet_preset() {
  Preset preset{"train_tiny_imagenet",
                "engram train_tiny_imagenet: ResNet-18 on Tiny-ImageNet-200, 64x64 (SGD 0.1, cosine, 200 epochs)",
                TrainConfig{}};
  preset.defaults.dataset = "tiny-imagenet";
  preset.defaults.model = "resnet18";
  preset.defaults.epochs = 200;
  preset.defaults.out_dir = "runs/tiny-imagenet";
  return preset;
}

int train_main(int argc, char** argv, const Preset& preset) {
  TrainConfig config = preset.defaults;
  CLI::App app{preset.description, preset.program};
  app.add_option("--dataset", config.dataset, "fashion-mnist, mnist, cifar10, cifar100 or tiny-imagenet")
      ->capture_default_str();
  app.add_option("--data", config.data_dir, "dataset folder (default: the dataset's usual folder, see docs/cli.md)");
  app.add_option("--model", config.model, "model-zoo name, e.g. resnet20, resnet18, wrn16_2, vgg11, mobilenetv2")
      ->capture_default_str();
  app.add_option("--epochs", config.epochs, "training epochs")->capture_default_str();
  app.add_option("--batch", config.batch, "training batch size")->capture_default_str();
  app.add_option("--eval-batch", config.eval_batch, "evaluation batch size")->capture_default_str();
  app.add_option("--optimizer", config.optimizer, "sgd or adamw")->capture_default_str();
  auto* lr = app.add_option("--lr", config.lr, "peak learning rate (adamw default: 0.001)")->capture_default_str();
  app.add_option("--momentum", config.momentum, "SGD momentum")->capture_default_str();
  auto* wd = app.add_option("--wd", config.weight_decay, "weight decay (adamw default: 0.01, decoupled)")
                 ->capture_default_str();
  app.add_flag("--nesterov", config.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--schedule", config.schedule, "constant, multistep or cosine")->capture_default_str();
  app.add_option("--milestones", config.milestones, "multistep: epochs at which lr *= gamma, e.g. 100,150")
      ->delimiter(',');
  app.add_option("--gamma", config.gamma, "multistep: lr factor at each milestone")->capture_default_str();
  app.add_option("--warmup", config.warmup_epochs, "epochs of linear warm-up from lr/10 (fractions allowed)")
      ->capture_default_str();
  app.add_option("--bn-recalibrate", config.bn_recalibrate,
                 "also report test accuracy after recomputing BN statistics on N training batches (0: off)")
      ->capture_default_str();
  app.add_option("--seed", config.seed, "seed of the initialisation, the shuffles and the augmentation")
      ->capture_default_str();
  app.add_option("--device", config.device, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--out", config.out_dir, "output folder (metrics.csv/json/svg, last.safetensors)")
      ->capture_default_str();
  app.add_option("--resume", config.resume, "continue from this last.safetensors (pass the same flags)");
  bool no_augment = false;
  app.add_flag("--no-augment", no_augment, "train without the dataset's random crops and flips (normalise only)");
  app.add_option("--subset", config.subset, "train on the first N training images (0: all)");
  app.add_option("--test-subset", config.test_subset, "evaluate on the first N test images (0: all)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints the help or the error
    return code == 0 ? 0 : 1;
  }
  config.augment = !no_augment;
  if (config.optimizer == "adamw") {
    if (lr->count() == 0) config.lr = 1e-3;
    if (wd->count() == 0) config.weight_decay = 1e-2;
  }

  try {
    run_training(config);
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());  // engram messages start with the failing operation
    return 1;
  }
  return 0;
}

}  // namespace engram::train
