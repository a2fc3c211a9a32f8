// CPU instruction-set features that the CPU backend's tactics depend on.
//
// The engine file records, for every chosen tactic, the features it needs (ToString form); loading
// an engine on a CPU whose DetectCpuFeatures() does not Cover() them is an error, never a SIGILL.
// Detection goes through __builtin_cpu_supports, which also checks that the OS saves the wider
// register state (XCR0), so a feature reported here is safe to execute.
#pragma once

#include <string>
#include <string_view>

#include "refit/status.h"

namespace refit::cpu {

struct CpuFeatures {
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx512fp16 = false;
  bool amx_tile = false;

  // Comma-separated names of the set features in a fixed order, e.g. "avx,avx2,fma"; "" when none.
  // The order and names are part of the engine format: append new features, never rename.
  std::string ToString() const;
  // Inverse of ToString. Unknown names are an error (an engine from a newer refit).
  static StatusOr<CpuFeatures> Parse(std::string_view text);

  // True when every feature set in `required` is set here.
  bool Covers(const CpuFeatures& required) const;
  // Comma-separated names set in `required` but not here ("" when Covers(required)).
  std::string Missing(const CpuFeatures& required) const;

  // Every feature set here or in `other`.
  CpuFeatures Union(const CpuFeatures& other) const;

  bool operator==(const CpuFeatures&) const = default;
};

// What our AVX-512 kernel files other than the GEMM micro-kernels need (they are compiled with
// -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma and call AVX2 helpers): avx, avx2, fma and the
// four AVX-512 subsets.
CpuFeatures Avx512KernelFeatures();

// The features of the CPU this process runs on. Cheap after the first call.
const CpuFeatures& DetectCpuFeatures();

// This CPU's "model name" (/proc/cpuinfo; "" when unknown): two CPUs with the same features can
// still tune differently. Cheap after the first call.
const std::string& CpuModelName();

}  // namespace refit::cpu
