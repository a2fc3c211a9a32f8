// Internal to backend/cpu, included ONLY by *_avx512.cc files (built with -mavx512f -mavx512bw
// -mavx512dq -mavx512vl -mfma): lane masks on 16 lanes.
//
// Everything here is `static inline`, as in avx2_math.h: each AVX-512 translation unit gets its
// own private copy, so the linker can never merge one into ISA-neutral code.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace refit::cpu::internal {

// A mask of the first n of 16 lanes: every lane for n >= 16, none for n <= 0. For masked loads and
// stores at a row's end.
static inline __mmask16 FirstLanes16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

}  // namespace refit::cpu::internal
