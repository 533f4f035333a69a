#include "train/checkpoint.h"

#include <map>
#include <set>

#include "nn/safetensors.h"

namespace engram::train {

namespace {

constexpr const char* kFormat = "engram-checkpoint-v1";

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string qualified(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Prefixes must be unique so that every stored name belongs to one part.
void check_parts(const char* op, const CheckpointParts& parts) {
  std::set<std::string> prefixes;
  for (const auto& [prefix, module] : parts.modules) {
    ENGRAM_CHECK(module != nullptr, ValueError, op, "module \"" + prefix + "\" is null");
    ENGRAM_CHECK(prefixes.insert(prefix).second, ValueError, op, "prefix \"" + prefix + "\" is used twice");
  }
  for (const auto& [prefix, optimizer] : parts.optimizers) {
    ENGRAM_CHECK(optimizer != nullptr, ValueError, op, "optimizer \"" + prefix + "\" is null");
    ENGRAM_CHECK(!prefix.empty(), ValueError, op, "an optimizer needs a non-empty prefix, e.g. \"optimizer\"");
    ENGRAM_CHECK(prefixes.insert(prefix).second, ValueError, op, "prefix \"" + prefix + "\" is used twice");
  }
}

// The stored entries of each part, by prefix, with the prefix removed. A name
// belongs to the longest prefix it starts with ("teacher." before ""); names
// that match no part are returned as unexpected.
struct Partition {
  std::map<std::string, nn::NamedTensors> by_prefix;
  std::vector<std::string> unexpected;
};

Partition partition(const nn::NamedTensors& stored, const CheckpointParts& parts) {
  std::vector<std::string> prefixes;
  for (const auto& part : parts.modules) prefixes.push_back(part.first);
  for (const auto& part : parts.optimizers) prefixes.push_back(part.first);
  Partition out;
  for (const std::string& p : prefixes) out.by_prefix[p];
  for (const auto& [name, tensor] : stored) {
    const std::string* owner = nullptr;
    for (const std::string& p : prefixes) {
      bool matches = p.empty() || name.rfind(p + ".", 0) == 0;
      if (matches && (owner == nullptr || p.size() > owner->size())) owner = &p;
    }
    if (owner == nullptr) {
      out.unexpected.push_back(name);
      continue;
    }
    size_t skip = owner->empty() ? 0 : owner->size() + 1;
    out.by_prefix[*owner].emplace_back(name.substr(skip), tensor);
  }
  return out;
}

// What is wrong with the stored entries of the parts, found before anything
// is copied, so that a failed load leaves every module as it was.
struct Problems {
  std::vector<std::string> missing, unexpected;
  std::string wrong_shape, wrong_dtype;  // the first of each, reported after names
};

// Compares a module's state dict with its stored entries: names, shapes, dtypes.
void check_module_entries(const std::string& prefix, const nn::Module& module, const nn::NamedTensors& stored,
                          Problems& problems) {
  const nn::NamedTensors state = module.state_dict();
  std::map<std::string, Tensor> expected(state.begin(), state.end());
  std::set<std::string> seen;
  for (const auto& [name, value] : stored) {
    auto it = expected.find(name);
    if (it == expected.end()) {
      problems.unexpected.push_back(qualified(prefix, name));
      continue;
    }
    seen.insert(name);
    const Tensor& slot = it->second;
    if (value.shape() != slot.shape() && problems.wrong_shape.empty())
      problems.wrong_shape = qualified(prefix, name) + ": the checkpoint has shape " + shape_str(value.shape()) +
                             ", the model expects " + shape_str(slot.shape());
    if (value.dtype() != slot.dtype() && problems.wrong_dtype.empty())
      problems.wrong_dtype = qualified(prefix, name) + ": the checkpoint has dtype " + dtype_name(value.dtype()) +
                             ", the model expects " + dtype_name(slot.dtype());
  }
  for (const auto& [name, slot] : state)
    if (!seen.count(name)) problems.missing.push_back(qualified(prefix, name));
}

std::set<std::string> names_of(const nn::NamedTensors& tensors) {
  std::set<std::string> out;
  for (const auto& entry : tensors) out.insert(entry.first);
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointParts& parts, const nlohmann::json& state) {
  check_parts("save_checkpoint", parts);
  nn::NamedTensors tensors;
  for (const auto& [prefix, module] : parts.modules)
    for (const auto& [name, tensor] : module->state_dict()) tensors.emplace_back(qualified(prefix, name), tensor);
  for (const auto& [prefix, optimizer] : parts.optimizers)
    for (const auto& [name, tensor] : optimizer->state()) tensors.emplace_back(qualified(prefix, name), tensor);
  std::map<std::string, std::string> metadata{{"format", kFormat}, {"engram", state.dump()}};
  try {
    nn::save_safetensors(path, tensors, metadata);
  } catch (const IOError& e) {
    throw IOError(std::string("save_checkpoint: ") + e.what());
  } catch (const ValueError& e) {
    throw ValueError(std::string("save_checkpoint: ") + e.what());
  }
}

namespace {

struct CheckpointFile {
  nn::SafetensorsFile file;
  nlohmann::json state;
};

// The tensors and the JSON state block of an engram checkpoint; IOError naming the file.
CheckpointFile read_checkpoint(const std::string& path, const char* op) {
  CheckpointFile c;
  try {
    c.file = nn::load_safetensors(path);
  } catch (const IOError& e) {
    throw IOError(std::string(op) + ": " + e.what());
  }
  auto format = c.file.metadata.find("format");
  ENGRAM_CHECK(format != c.file.metadata.end() && format->second == kFormat, IOError, op,
               path + " is not an engram checkpoint: expected metadata format \"" + kFormat + "\", got " +
                   (format == c.file.metadata.end() ? "none" : "\"" + format->second + "\""));
  auto state_text = c.file.metadata.find("engram");
  ENGRAM_CHECK(state_text != c.file.metadata.end(), IOError, op,
               path + " has no \"engram\" metadata entry (the JSON state)");
  try {
    c.state = nlohmann::json::parse(state_text->second);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number past a double's range
    throw IOError(std::string(op) + ": " + path + ": the \"engram\" metadata entry is not valid JSON (" + e.what() +
                  ")");
  }
  return c;
}

}  // namespace

nlohmann::json load_checkpoint(const std::string& path, const CheckpointParts& parts) {
  check_parts("load_checkpoint", parts);
  CheckpointFile checkpoint = read_checkpoint(path, "load_checkpoint");
  const nn::SafetensorsFile& file = checkpoint.file;
  nlohmann::json& state = checkpoint.state;

  // Check everything that can be checked before touching any part.
  Partition stored = partition(file.tensors, parts);
  Problems problems;
  problems.unexpected = stored.unexpected;
  for (const auto& [prefix, module] : parts.modules)
    check_module_entries(prefix, *module, stored.by_prefix[prefix], problems);
  // An optimizer's state names depend on the steps it has taken (buffers are
  // created lazily), so what it holds now must be in the file, and what the
  // file holds must be what the optimizer holds after loading.
  for (const auto& [prefix, optimizer] : parts.optimizers) {
    std::set<std::string> given = names_of(stored.by_prefix[prefix]);
    for (const std::string& name : names_of(optimizer->state()))
      if (!given.count(name)) problems.missing.push_back(qualified(prefix, name));
  }
  const std::vector<std::string>& missing = problems.missing;
  std::vector<std::string>& unexpected = problems.unexpected;
  ENGRAM_CHECK(missing.empty() && unexpected.empty(), ValueError, "load_checkpoint",
               path + ": " + (missing.empty() ? "" : "missing entries: " + join(missing) + ". ") +
                   (unexpected.empty() ? "" : "unexpected entries: " + join(unexpected) + "."));
  ENGRAM_CHECK(problems.wrong_shape.empty(), ShapeError, "load_checkpoint", path + ": " + problems.wrong_shape);
  ENGRAM_CHECK(problems.wrong_dtype.empty(), DTypeError, "load_checkpoint", path + ": " + problems.wrong_dtype);

  for (const auto& [prefix, optimizer] : parts.optimizers) {
    const nn::NamedTensors& entries = stored.by_prefix[prefix];
    try {
      optimizer->load_state(entries);
    } catch (const ShapeError& e) {
      throw ShapeError("load_checkpoint: " + path + ": optimizer \"" + prefix + "\": " + e.what());
    } catch (const ValueError& e) {
      throw ValueError("load_checkpoint: " + path + ": optimizer \"" + prefix + "\": " + e.what());
    }
    std::set<std::string> held = names_of(optimizer->state());
    for (const auto& entry : entries)
      if (!held.count(entry.first)) unexpected.push_back(qualified(prefix, entry.first));
  }
  ENGRAM_CHECK(unexpected.empty(), ValueError, "load_checkpoint",
               path + ": unexpected entries: " + join(unexpected) + " (the optimizer does not use them)");
  for (const auto& [prefix, module] : parts.modules) module->load_state_dict(stored.by_prefix[prefix], true);
  return state;
}

nlohmann::json read_checkpoint_state(const std::string& path) {
  return read_checkpoint(path, "read_checkpoint_state").state;
}

nlohmann::json load_checkpoint_module(const std::string& path, const std::string& prefix, nn::Module& module) {
  CheckpointFile checkpoint = read_checkpoint(path, "load_checkpoint_module");
  std::map<std::string, Tensor> stored(checkpoint.file.tensors.begin(), checkpoint.file.tensors.end());
  nn::NamedTensors entries;
  std::vector<std::string> missing;
  for (const auto& [name, tensor] : module.state_dict()) {
    auto found = stored.find(qualified(prefix, name));
    if (found == stored.end())
      missing.push_back(qualified(prefix, name));
    else
      entries.emplace_back(name, found->second);
  }
  ENGRAM_CHECK(missing.empty(), ValueError, "load_checkpoint_module",
               path + ": missing entries: " + join(missing) + " (is it a checkpoint of this model?)");
  try {
    module.load_state_dict(entries, true);
  } catch (const ShapeError& e) {
    throw ShapeError("load_checkpoint_module: " + path + ": " + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError("load_checkpoint_module: " + path + ": " + e.what());
  }
  return checkpoint.state;
}

}  // namespace engram::train
