#include "kernels/dispatch.h"

#include <array>
#include <cstdlib>
#include <sstream>

namespace engram {

namespace {

constexpr int kFamilies = 3;

OpFamily parse_family(const std::string& name) {
  if (name == "gemm") return OpFamily::gemm;
  if (name == "conv") return OpFamily::conv;
  if (name == "batchnorm") return OpFamily::batchnorm;
  throw ValueError("ENGRAM_BACKEND: unknown op family \"" + name + "\", expected gemm, conv or batchnorm");
}

Backend parse_backend(const std::string& name) {
  if (name == "native") return Backend::native;
  if (name == "vendor") return Backend::vendor;
  throw ValueError("ENGRAM_BACKEND: unknown backend \"" + name + "\", expected native or vendor");
}

std::array<Backend, kFamilies> read_environment() {
  std::array<Backend, kFamilies> choice{Backend::native, Backend::native, Backend::native};
  const char* env = std::getenv("ENGRAM_BACKEND");
  if (!env || !*env) return choice;
  std::string spec(env);
  if (spec.find('=') == std::string::npos) {
    choice.fill(parse_backend(spec));
    return choice;
  }
  std::stringstream items(spec);
  std::string item;
  while (std::getline(items, item, ',')) {
    size_t eq = item.find('=');
    ENGRAM_CHECK(eq != std::string::npos, ValueError, "ENGRAM_BACKEND",
                 "expected family=backend, got \"" + item + "\"");
    choice[static_cast<int>(parse_family(item.substr(0, eq)))] = parse_backend(item.substr(eq + 1));
  }
  return choice;
}

std::array<Backend, kFamilies>& choices() {
  static std::array<Backend, kFamilies> c = [] {
    std::array<Backend, kFamilies> chosen = read_environment();
    for (int f = 0; f < kFamilies; ++f)
      ENGRAM_CHECK(chosen[f] == Backend::native || vendor_available(static_cast<OpFamily>(f)), DeviceError,
                   "ENGRAM_BACKEND", std::string("asks for the vendor ") + family_name(static_cast<OpFamily>(f)) +
                                         ", but this build has none (cuBLAS and cuDNN exist only in nvcc builds)");
    return chosen;
  }();
  return c;
}

}  // namespace

Backend backend(OpFamily family) { return choices()[static_cast<int>(family)]; }

void set_backend(OpFamily family, Backend choice) {
  ENGRAM_CHECK(choice == Backend::native || vendor_available(family), DeviceError, "set_backend",
               std::string("no vendor implementation of ") + family_name(family) + " was built");
  choices()[static_cast<int>(family)] = choice;
}

const char* backend_name(Backend b) { return b == Backend::native ? "native" : "vendor"; }

const char* family_name(OpFamily f) {
  switch (f) {
    case OpFamily::gemm: return "gemm";
    case OpFamily::conv: return "conv";
    case OpFamily::batchnorm: return "batchnorm";
  }
  return "?";
}

bool vendor_available(OpFamily family) {
#if ENGRAM_HAS_CUDNN
  (void)family;
  return true;
#elif ENGRAM_HAS_CUBLAS
  return family == OpFamily::gemm;
#else
  (void)family;
  return false;
#endif
}

void throw_no_cuda(const char* op) {
  throw DeviceError(std::string(op) + ": engram was built without CUDA");
}

}  // namespace engram
