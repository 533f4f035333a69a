#pragma once
// CUDA's built-in vector types for the host runtime, with the sizes and
// alignments nvcc gives them (a float4 load needs a 16-byte aligned address
// on the GPU; the same alignment here keeps the kernels' aligned paths).

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }

#define ENGRAM_HOST_VECTOR2(T, name, align) \
  struct alignas(align) name {              \
    T x, y;                                 \
  };                                        \
  inline name make_##name(T x, T y) { return {x, y}; }
#define ENGRAM_HOST_VECTOR4(T, name, align) \
  struct alignas(align) name {              \
    T x, y, z, w;                           \
  };                                        \
  inline name make_##name(T x, T y, T z, T w) { return {x, y, z, w}; }
ENGRAM_HOST_VECTOR2(float, float2, 8)
ENGRAM_HOST_VECTOR4(float, float4, 16)
ENGRAM_HOST_VECTOR2(int, int2, 8)
ENGRAM_HOST_VECTOR4(int, int4, 16)
ENGRAM_HOST_VECTOR2(unsigned, uint2, 8)
ENGRAM_HOST_VECTOR4(unsigned, uint4, 16)
ENGRAM_HOST_VECTOR2(double, double2, 16)
#undef ENGRAM_HOST_VECTOR2
#undef ENGRAM_HOST_VECTOR4
