#pragma once
// How an op reaches its implementation. Every op family is declared once in
// kernels/<family>.h: the differentiable API users call, then the backend
// functions it dispatches to, with identical signatures in
//   cpu::    the reference (templated on float/double, Eigen + OpenMP),
//   cuda::   engram's handwritten kernels (float32),
//   vendor:: cuBLAS / cuDNN twins of some cuda:: functions, chosen at run time.
// Backend functions take allocated tensors, validate nothing and record no
// autograd; the differentiable API validates arguments and records the node.
#include <string>

#include "core/tensor.h"

namespace engram {

enum class Backend { native, vendor };
enum class OpFamily { gemm, conv, batchnorm };

// Which implementation CUDA ops of a family use. Default native; the
// environment variable ENGRAM_BACKEND sets it at start-up: "vendor" (all
// families) or a list such as "gemm=vendor,conv=native".
Backend backend(OpFamily family);
void set_backend(OpFamily family, Backend choice);
const char* backend_name(Backend b);
const char* family_name(OpFamily f);
// True when the vendor twin of the family is compiled in (cuBLAS always with
// CUDA; conv and batchnorm need cuDNN).
bool vendor_available(OpFamily family);

[[noreturn]] void throw_no_cuda(const char* op);

}  // namespace engram

// ENGRAM_CUDA_CALL(op, call): the call on a CUDA build, otherwise a
// DeviceError (unreachable in practice: a CPU-only build cannot make a CUDA tensor).
#if ENGRAM_HAS_CUDA
#define ENGRAM_CUDA_CALL(op, ...) __VA_ARGS__
#else
#define ENGRAM_CUDA_CALL(op, ...) ::engram::throw_no_cuda(op)
#endif
