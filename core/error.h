#pragma once
// Errors a user can read: every message starts with the operation's name and
// says what was expected and what was found, e.g.
//   "conv2d: input must be 4-D [N, C, H, W], got shape [3, 32, 32]"
#include <cstdio>
#include <stdexcept>
#include <string>

namespace engram {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error { using Error::Error; };     // wrong rank or size
class DTypeError : public Error { using Error::Error; };     // wrong element type
class DeviceError : public Error { using Error::Error; };    // wrong or unavailable device
class ValueError : public Error { using Error::Error; };     // bad argument value
class IOError : public Error { using Error::Error; };        // missing, truncated or corrupt file
class OutOfMemoryError : public Error { using Error::Error; };
class NumericalError : public Error { using Error::Error; }; // NaN or Inf where a number was expected
class AutogradError : public Error { using Error::Error; };  // misuse of backward()

// A bad value in a configuration struct. It names the field as the library
// spells it ("weight_decay"); a program maps field() to its own flag ("--wd").
class ConfigError : public ValueError {
 public:
  ConfigError(const std::string& op, const std::string& field, const std::string& problem)
      : ValueError(op + ": " + field + " " + problem), field_(field), problem_(problem) {}
  const std::string& field() const { return field_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_, problem_;
};

// A number as messages show it, printf's %g: "0.0005", "1e-08", "30".
inline std::string message_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace engram

// ENGRAM_CHECK(cond, ErrorType, op, message): the message expression is only
// evaluated when the check fails, so it may build strings freely.
#define ENGRAM_CHECK(cond, ErrorType, op, message)                     \
  do {                                                                 \
    if (!(cond)) throw ErrorType(std::string(op) + ": " + (message)); \
  } while (0)

// ENGRAM_CONFIG_CHECK(cond, op, field, problem): a ConfigError naming the field.
#define ENGRAM_CONFIG_CHECK(cond, op, field, problem)      \
  do {                                                     \
    if (!(cond)) throw ::engram::ConfigError(op, field, problem); \
  } while (0)
