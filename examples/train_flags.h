#pragma once
// The command-line flags of train::TrainConfig, shared by the training
// programs (train, train_cifar, train_tiny_imagenet) and spaced_kd, and the
// way back from a library error's field to the flag that set it.
#include <CLI/CLI.hpp>
#include <string>

#include "core/error.h"
#include "train/config.h"

namespace engram::programs {

class TrainFlags {
 public:
  // Adds every TrainConfig flag but --out and --resume (each program has
  // its own) to `app`, with `config`'s values as the defaults shown.
  TrainFlags(CLI::App& app, train::TrainConfig& config);
  // After parsing: the named values into their enums (ConfigError for an
  // unknown name), and AdamW's defaults (lr 1e-3, wd 1e-2) unless given.
  void apply();
  bool given(const std::string& flag) const { return app_.get_option(flag)->count() > 0; }

 private:
  CLI::App& app_;
  train::TrainConfig& config_;
  std::string optimizer_, schedule_, device_;
  bool no_augment_ = false;
};

// The flag that sets a configuration field: "weight_decay" -> "--wd".
std::string flag_of(const std::string& field);
// An engram error as a program prints it: a ConfigError as
// "<program>: <flag> <problem>", any other error as its message.
std::string program_message(const std::string& program, const Error& error);

}  // namespace engram::programs
