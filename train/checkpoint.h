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

#include "core/error.h"

#include "nn/module.h"
#include "optim/optimizer.h"

namespace engram::train {

struct CheckpointParts {
  std::vector<std::pair<std::string, nn::Module*>> modules;                 // prefix ("" allowed once), module
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers;    // prefix (non-empty), optimizer
};

// Atomic: written to a temp file next to `path`, then renamed over it.
void save_checkpoint(const std::string& path, const CheckpointParts& parts, const nlohmann::json& state);
// Loads every part in place (strictly: missing or unexpected entries are a
// ValueError naming them) and returns the JSON state block.
nlohmann::json load_checkpoint(const std::string& path, const CheckpointParts& parts);

// The JSON state block of a checkpoint, loaded into nothing.
nlohmann::json read_checkpoint_state(const std::string& path);
// Loads one module's entries under `prefix` and ignores the other parts (for
// tools that study one model of a run, like the sharpness program); returns
// the JSON state block. ValueError naming the missing entries, or the first
// tensor whose shape or dtype differs.
nlohmann::json load_checkpoint_module(const std::string& path, const std::string& prefix, nn::Module& module);

// state[key] as a T; IOError naming the key and the file when it is missing or of another type.
template <typename T>
T json_value(const nlohmann::json& state, const std::string& key, const std::string& file) {
  if (!state.is_object() || !state.contains(key))
    throw IOError("checkpoint " + file + ": the state has no key \"" + key + "\"");
  try {
    return state.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw IOError("checkpoint " + file + ": key \"" + key + "\" holds " + state.at(key).dump() +
                  ", which is not of the expected type");
  }
}

}  // namespace engram::train
