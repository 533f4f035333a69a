#pragma once
// engram's host runtime stands in for the CUDA toolkit's <cuda_runtime.h> in
// a host build (ENGRAM_CUDA=HOST): this folder is on the include path instead
// of the toolkit's, so the same .cu sources compile as C++ and run on the CPU.
// The language (qualifiers, built-in variables, vector types, intrinsics, warp
// collectives) comes from language.h; the runtime API engram calls from api.h.
#include "core/cuda/host/api.h"
#include "core/cuda/host/language.h"
