#pragma once
// Tensors by name, in a meaningful order: a module's state dict (PyTorch's
// dotted names), an optimizer's state, the entries of a safetensors file.
// In core because nn/ and optim/ both speak it and neither may include the other.
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace engram {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace engram
