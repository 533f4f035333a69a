#pragma once
// How an op reaches its implementation. Every op family is declared once in
// kernels/<family>.h: the differentiable API users call, then the backend
// functions it dispatches to, with identical signatures in
//   cpu::    the reference (templated on float/double, Eigen + OpenMP),
//   cuda::   engram's handwritten kernels (float32),
//   vendor:: cuBLAS / cuDNN twins of some cuda:: functions, chosen at run time.
// The API validates the arguments, then calls ENGRAM_DISPATCH, which checks
// the device and the dtype once and calls one backend. Backend functions take
// allocated tensors, validate nothing and record no autograd.
#include "core/device.h"
#include "core/tensor.h"

namespace engram {

enum class Backend { native, vendor };
// The library a family's vendor:: twins call, if it has any.
enum class VendorLibrary { none, cublas, cudnn };

enum class OpFamily { gemm, conv, batchnorm, elementwise, reduce, loss, softmax, pool, shape, dropout, sgd, adamw, linear };

struct FamilyInfo {
  OpFamily family;
  const char* name;  // as ENGRAM_BACKEND spells it
  VendorLibrary vendor;
  bool cuda_f32_only;  // false where the CUDA kernels move bytes of any dtype
};

// The family table, in OpFamily order; every per-family fact is read from it.
inline constexpr FamilyInfo kFamilies[] = {
    {OpFamily::gemm, "gemm", VendorLibrary::cublas, true},
    {OpFamily::conv, "conv", VendorLibrary::cudnn, true},
    {OpFamily::batchnorm, "batchnorm", VendorLibrary::cudnn, true},
    {OpFamily::elementwise, "elementwise", VendorLibrary::none, true},
    {OpFamily::reduce, "reduce", VendorLibrary::none, true},
    {OpFamily::loss, "loss", VendorLibrary::none, true},
    {OpFamily::softmax, "softmax", VendorLibrary::none, true},
    {OpFamily::pool, "pool", VendorLibrary::none, true},
    {OpFamily::shape, "shape", VendorLibrary::none, false},
    {OpFamily::dropout, "dropout", VendorLibrary::none, true},
    {OpFamily::sgd, "sgd", VendorLibrary::none, true},
    {OpFamily::adamw, "adamw", VendorLibrary::none, true},
    {OpFamily::linear, "linear", VendorLibrary::none, true},
};
inline constexpr int kFamilyCount = sizeof(kFamilies) / sizeof(kFamilies[0]);

constexpr bool table_in_enum_order() {
  for (int i = 0; i < kFamilyCount; ++i)
    if (static_cast<int>(kFamilies[i].family) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kFamilies must list the families in OpFamily order");

constexpr const FamilyInfo& family_info(OpFamily f) { return kFamilies[static_cast<int>(f)]; }
inline const char* family_name(OpFamily f) { return family_info(f).name; }
const char* backend_name(Backend b);

// Which implementation CUDA ops of a family use. Default native; the
// environment variable ENGRAM_BACKEND sets it at start-up: "vendor" (every
// family that has vendor twins) or a list such as "gemm=vendor,conv=native".
// Asking for vendor where this build has none is a DeviceError.
Backend backend(OpFamily family);
void set_backend(OpFamily family, Backend choice);
// True when the family has vendor twins and their library is compiled in
// (cuBLAS with every CUDA build; cuDNN when it was found).
bool vendor_available(OpFamily family);

// Where an op's data lives: a tensor's, or a raw buffer's device and dtype.
struct Placement {
  Device device;
  DType dtype;
};
inline Placement placement_of(const Tensor& t) { return {t.device(), t.dtype()}; }
inline Placement placement_of(Placement p) { return p; }

enum class Target { cpu, cuda, vendor };
// The backend that runs `op` on data at `where`. CUDA kernels compute in f32
// (unless the family says otherwise): another dtype there is a DTypeError
// naming the op.
Target dispatch_target(OpFamily family, const char* op, Placement where);

[[noreturn]] void throw_no_vendor(const char* op);

}  // namespace engram

// ENGRAM_DISPATCH(family, op, where, fn, args...): calls cpu::fn, cuda::fn
// or vendor::fn with args, as dispatch_target picks for `where` (a Tensor or
// a Placement). The vendor branch is compiled only where the family's library
// is, through ENGRAM_VENDOR_CALL_<family>, one line per row of kFamilies.
#define ENGRAM_DISPATCH(family, op, where, fn, ...)                                                  \
  do {                                                                                               \
    switch (::engram::dispatch_target(::engram::OpFamily::family, op, ::engram::placement_of(where))) { \
      case ::engram::Target::cpu: cpu::fn(__VA_ARGS__); break;                                       \
      case ::engram::Target::cuda: ENGRAM_CUDA_CALL(op, cuda::fn(__VA_ARGS__)); break;               \
      case ::engram::Target::vendor: ENGRAM_VENDOR_CALL_##family(op, vendor::fn(__VA_ARGS__)); break; \
    }                                                                                                \
  } while (0)

#define ENGRAM_NO_VENDOR(op, call) ::engram::throw_no_vendor(op)
#define ENGRAM_VENDOR_BUILT(op, call) call
#if ENGRAM_HAS_CUBLAS
#define ENGRAM_VENDOR_CALL_gemm ENGRAM_VENDOR_BUILT
#else
#define ENGRAM_VENDOR_CALL_gemm ENGRAM_NO_VENDOR
#endif
#if ENGRAM_HAS_CUDNN
#define ENGRAM_VENDOR_CALL_conv ENGRAM_VENDOR_BUILT
#define ENGRAM_VENDOR_CALL_batchnorm ENGRAM_VENDOR_BUILT
#else
#define ENGRAM_VENDOR_CALL_conv ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_batchnorm ENGRAM_NO_VENDOR
#endif
#define ENGRAM_VENDOR_CALL_elementwise ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_reduce ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_loss ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_softmax ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_pool ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_shape ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_dropout ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_sgd ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_adamw ENGRAM_NO_VENDOR
#define ENGRAM_VENDOR_CALL_linear ENGRAM_NO_VENDOR
