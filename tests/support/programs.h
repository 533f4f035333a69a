#pragma once
// Running the built programs of examples/ from a test, as a user runs them.
// The test's CMake entry defines ENGRAM_PROGRAMS_DIR (where they are built)
// and ENGRAM_SOURCE_DIR.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "nn/safetensors.h"

namespace engram::testing {

inline const std::string kPrograms = ENGRAM_PROGRAMS_DIR;
inline const std::string kSource = ENGRAM_SOURCE_DIR;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// An empty folder under the system's temporary directory, unique to this process.
inline std::string program_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("engram_test_programs_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

struct Ran {
  int status = -1;
  std::string out, err;
};

// Runs examples/<program> with `args` on two threads, capturing both streams.
inline Ran run_program(const std::string& program, const std::string& args) {
  // Where the streams go; removed when the test program exits.
  static const struct Streams {
    std::string dir = program_dir("streams");
    ~Streams() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } streams;
  const std::string out = streams.dir + "/stdout", err = streams.dir + "/stderr";
  const std::string command =
      "OMP_NUM_THREADS=2 " + kPrograms + "/" + program + " " + args + " > " + out + " 2> " + err;
  int raw = std::system(command.c_str());
  Ran ran;
  ran.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  ran.out = read_file(out);
  ran.err = read_file(err);
  return ran;
}

// metrics.csv without its last column (seconds, which differ from run to run).
inline std::string without_seconds(const std::string& csv) {
  std::istringstream lines(csv);
  std::string out;
  for (std::string line; std::getline(lines, line);) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// The first tensor (by name, in file order) whose bytes differ between two
// safetensors files; "" when the files hold the same names and bytes.
inline std::string first_tensor_difference(const std::string& path_a, const std::string& path_b) {
  const nn::SafetensorsFile a = nn::load_safetensors(path_a), b = nn::load_safetensors(path_b);
  if (a.tensors.size() != b.tensors.size())
    return std::to_string(a.tensors.size()) + " tensors against " + std::to_string(b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor &x = a.tensors[i].second, &y = b.tensors[i].second;
    if (a.tensors[i].first != b.tensors[i].first || x.nbytes() != y.nbytes() ||
        std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0)
      return a.tensors[i].first;
  }
  return "";
}

}  // namespace engram::testing
