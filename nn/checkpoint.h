#pragma once
// Training checkpoints: one safetensors file holding the modules' state
// dicts, the optimizers' state and a JSON block ("engram" metadata entry) with
// everything else a resumed run needs (epoch, step, RNG state, scheduler
// position, program-specific state such as a spaced-KD replay buffer).
//
// Names: a module registered under the empty prefix keeps its bare PyTorch
// names (`conv1.weight`), so a single-model checkpoint loads into the
// equivalent PyTorch module with load_state_dict after dropping the
// `optimizer.` entries; other modules are prefixed (`teacher.conv1.weight`),
// optimizers likewise (`optimizer.3.momentum_buffer`, `student_optimizer.3...`).
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "optim/optimizer.h"

namespace engram::nn {

struct CheckpointParts {
  std::vector<std::pair<std::string, Module*>> modules;                 // prefix ("" allowed once), module
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers;    // prefix (non-empty), optimizer
};

// Atomic: written to a temp file next to `path`, then renamed over it.
void save_checkpoint(const std::string& path, const CheckpointParts& parts, const nlohmann::json& state);
// Loads every part in place (strictly: missing or unexpected entries are a
// ValueError naming them) and returns the JSON state block.
nlohmann::json load_checkpoint(const std::string& path, const CheckpointParts& parts);

}  // namespace engram::nn
