#pragma once
// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
//  "__metadata__": {string: string}}, then the raw little-endian bytes.
// Written atomically (temp file in the same folder, then rename), so a crash
// never leaves a half-written checkpoint under the final name.
#include <map>
#include <string>

#include "nn/module.h"

namespace engram::nn {

struct SafetensorsFile {
  NamedTensors tensors;  // in file order, on the CPU
  std::map<std::string, std::string> metadata;
};

// Tensors may live on any device; they are copied to the host to be written.
// dtypes: f32 -> F32, f64 -> F64, i32 -> I32, u8 -> U8; a tensor whose name
// ends in "num_batches_tracked" is written as I64, as PyTorch stores it.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Reads F32, F64, I32, U8 and I64 (I64 is converted to f64: exact up to 2^53).
// Throws IOError naming the file for a missing, truncated or malformed file.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace engram::nn
