#include "examples/train_cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "examples/train_flags.h"
#include "train/baseline.h"
#include "train/interrupt.h"
#include "train/run.h"

namespace engram::programs {

namespace {

train::TrainConfig with_out_dir(const std::string& out_dir) {
  train::TrainConfig config;
  config.out_dir = out_dir;
  return config;
}

}  // namespace

Preset default_preset() {
  return {"train", "engram train: an image classifier from the model zoo on one dataset", "resnet20",
          with_out_dir("runs/train")};
}

Preset cifar_preset() {
  Preset preset{"train_cifar", "engram train_cifar: ResNet-18 on CIFAR-10/100 (SGD 0.1, cosine, 200 epochs)",
                "resnet18", with_out_dir("runs/cifar")};
  preset.defaults.dataset = "cifar10";
  preset.defaults.epochs = 200;
  return preset;
}

Preset tiny_imagenet_preset() {
  Preset preset{"train_tiny_imagenet",
                "engram train_tiny_imagenet: ResNet-18 on Tiny-ImageNet-200, 64x64 (SGD 0.1, cosine, 200 epochs)",
                "resnet18", with_out_dir("runs/tiny-imagenet")};
  preset.defaults.dataset = "tiny-imagenet";
  preset.defaults.epochs = 200;
  return preset;
}

int train_main(int argc, char** argv, const Preset& preset) {
  train::TrainConfig config = preset.defaults;
  std::string model = preset.model;
  CLI::App app{preset.description, preset.program};
  TrainFlags flags(app, config);
  app.add_option("--model", model, "model-zoo name, e.g. resnet20, resnet18, wrn16_2, vgg11, mobilenetv2")
      ->capture_default_str();
  app.add_option("--out", config.out_dir, "output folder (metrics.csv/json/svg, last.safetensors)")
      ->capture_default_str();
  app.add_option("--resume", config.resume, "continue from this last.safetensors (pass the same flags)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints the help or the error
    return code == 0 ? 0 : 1;
  }

  try {
    flags.apply();
    ENGRAM_CONFIG_CHECK(!config.out_dir.empty(), "train", "out_dir", "must name a folder");
    train::BaselineStrategy strategy(model);
    train::install_interrupt_handler();
    train::RunResult result = train::run(config, strategy);
    if (result.interrupted) {
      std::fprintf(stderr, "%s: interrupted; to continue, run the same command with --resume %s\n",
                   preset.program.c_str(), result.checkpoint.c_str());
      return 130;  // as a shell reports a process ended by SIGINT
    }
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", program_message(preset.program, e).c_str());
    return 1;
  }
  return 0;
}

}  // namespace engram::programs
