#include "kernels/dispatch.h"

#include <array>
#include <cstdlib>
#include <sstream>

namespace engram {

namespace {

using Choices = std::array<Backend, kFamilyCount>;

#if ENGRAM_HAS_CUBLAS
constexpr bool kCublasBuilt = true;
#else
constexpr bool kCublasBuilt = false;
#endif
#if ENGRAM_HAS_CUDNN
constexpr bool kCudnnBuilt = true;
#else
constexpr bool kCudnnBuilt = false;
#endif

std::string family_names() {
  std::string names;
  for (const FamilyInfo& f : kFamilies) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

OpFamily parse_family(const std::string& name) {
  for (const FamilyInfo& f : kFamilies)
    if (name == f.name) return f.family;
  throw ValueError("ENGRAM_BACKEND: unknown op family \"" + name + "\", expected one of " + family_names());
}

Backend parse_backend(const std::string& name) {
  if (name == "native") return Backend::native;
  if (name == "vendor") return Backend::vendor;
  throw ValueError("ENGRAM_BACKEND: unknown backend \"" + name + "\", expected native or vendor");
}

Choices read_environment() {
  Choices choice;
  choice.fill(Backend::native);
  const char* env = std::getenv("ENGRAM_BACKEND");
  if (!env || !*env) return choice;
  std::string spec(env);
  if (spec.find('=') == std::string::npos) {
    Backend all = parse_backend(spec);
    for (const FamilyInfo& f : kFamilies)
      if (f.vendor != VendorLibrary::none) choice[static_cast<int>(f.family)] = all;
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

std::string why_no_vendor(OpFamily family) {
  switch (family_info(family).vendor) {
    case VendorLibrary::none: return "it has no vendor twins";
    case VendorLibrary::cublas: return "this build has no cuBLAS (it comes with nvcc builds)";
    case VendorLibrary::cudnn: return "this build has no cuDNN (it is found at configure time)";
  }
  return "";
}

void check_choice(const char* who, OpFamily family, Backend choice) {
  ENGRAM_CHECK(choice == Backend::native || vendor_available(family), DeviceError, who,
               std::string("asks for the vendor ") + family_name(family) + " backend, but " + why_no_vendor(family));
}

Choices& choices() {
  static Choices c = [] {
    Choices chosen = read_environment();
    for (const FamilyInfo& f : kFamilies) check_choice("ENGRAM_BACKEND", f.family, chosen[static_cast<int>(f.family)]);
    return chosen;
  }();
  return c;
}

}  // namespace

Backend backend(OpFamily family) { return choices()[static_cast<int>(family)]; }

void set_backend(OpFamily family, Backend choice) {
  check_choice("set_backend", family, choice);
  choices()[static_cast<int>(family)] = choice;
}

const char* backend_name(Backend b) { return b == Backend::native ? "native" : "vendor"; }

bool vendor_available(OpFamily family) {
  switch (family_info(family).vendor) {
    case VendorLibrary::none: return false;
    case VendorLibrary::cublas: return kCublasBuilt;
    case VendorLibrary::cudnn: return kCudnnBuilt;
  }
  return false;
}

Target dispatch_target(OpFamily family, const char* op, Placement where) {
  if (where.device.is_cpu()) return Target::cpu;
  ENGRAM_CHECK(!family_info(family).cuda_f32_only || where.dtype == DType::f32, DTypeError, op,
               std::string("the CUDA backend computes in f32, got ") + dtype_name(where.dtype) + " (run f64 on the CPU)");
  return backend(family) == Backend::vendor ? Target::vendor : Target::cuda;
}

void throw_no_vendor(const char* op) {
  throw DeviceError(std::string(op) + ": the vendor backend was chosen, but this build has no vendor twin of it");
}

}  // namespace engram
