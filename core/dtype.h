#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace engram {

enum class DType { f32, f64, i32, u8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::u8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

}  // namespace engram

// Runs `body` with `scalar_t` bound to float or double according to `dtype`;
// any other dtype is a DTypeError naming `op`. The CPU reference is written
// once as a template and instantiated for both, so gradient checks run in f64.
#define ENGRAM_DISPATCH_FLOATING(dtype, op, ...)                                   \
  [&] {                                                                           \
    switch (dtype) {                                                              \
      case ::engram::DType::f32: { using scalar_t = float; return __VA_ARGS__(); } \
      case ::engram::DType::f64: { using scalar_t = double; return __VA_ARGS__(); }\
      default:                                                                    \
        throw ::engram::DTypeError(std::string(op) + ": expected f32 or f64, got " + \
                                   ::engram::dtype_name(dtype));                  \
    }                                                                             \
  }()
