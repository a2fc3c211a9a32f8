#include "backend/cpu/cpu_features.h"

#include <array>
#include <fstream>
#include <utility>

namespace refit::cpu {
namespace {

struct FeatureField {
  std::string_view name;
  bool CpuFeatures::*field;
};

// Engine-format order: append only.
constexpr std::array<FeatureField, 12> kFields = {{
    {"avx", &CpuFeatures::avx},
    {"avx2", &CpuFeatures::avx2},
    {"fma", &CpuFeatures::fma},
    {"f16c", &CpuFeatures::f16c},
    {"avx512f", &CpuFeatures::avx512f},
    {"avx512bw", &CpuFeatures::avx512bw},
    {"avx512dq", &CpuFeatures::avx512dq},
    {"avx512vl", &CpuFeatures::avx512vl},
    {"avx512vnni", &CpuFeatures::avx512vnni},
    {"avx512bf16", &CpuFeatures::avx512bf16},
    {"avx512fp16", &CpuFeatures::avx512fp16},
    {"amx-tile", &CpuFeatures::amx_tile},
}};

std::string JoinSet(const CpuFeatures& f, const CpuFeatures* exclude) {
  std::string out;
  for (const FeatureField& field : kFields) {
    if (!(f.*field.field)) continue;
    if (exclude != nullptr && exclude->*field.field) continue;
    if (!out.empty()) out += ',';
    out += field.name;
  }
  return out;
}

CpuFeatures Detect() {
  __builtin_cpu_init();
  CpuFeatures f;
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  f.avx512fp16 = __builtin_cpu_supports("avx512fp16");
  f.amx_tile = __builtin_cpu_supports("amx-tile");
  return f;
}

}  // namespace

std::string CpuFeatures::ToString() const { return JoinSet(*this, nullptr); }

StatusOr<CpuFeatures> CpuFeatures::Parse(std::string_view text) {
  CpuFeatures f;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view name = text.substr(pos, comma - pos);
    bool found = false;
    for (const FeatureField& field : kFields) {
      if (field.name == name) {
        f.*field.field = true;
        found = true;
        break;
      }
    }
    if (!found) {
      return InvalidArgument("CPU feature list '" + std::string(text) + "': unknown feature '" +
                             std::string(name) + "'");
    }
    pos = comma + 1;
  }
  return f;
}

CpuFeatures CpuFeatures::Union(const CpuFeatures& other) const {
  CpuFeatures out = *this;
  for (const FeatureField& field : kFields)
    out.*field.field = out.*field.field || other.*field.field;
  return out;
}

bool CpuFeatures::Covers(const CpuFeatures& required) const { return Missing(required).empty(); }

std::string CpuFeatures::Missing(const CpuFeatures& required) const {
  return JoinSet(required, this);
}

CpuFeatures Avx512KernelFeatures() {
  CpuFeatures f;
  f.avx = f.avx2 = f.fma = true;
  f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = true;
  return f;
}

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

const std::string& CpuModelName() {
  static const std::string name = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) != 0) continue;
      const size_t colon = line.find(':');
      return colon == std::string::npos ? std::string() : line.substr(colon + 1);
    }
    return std::string();
  }();
  return name;
}

}  // namespace refit::cpu
