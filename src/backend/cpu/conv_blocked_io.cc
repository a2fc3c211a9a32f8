// The channel-blocked activation layouts the tactics share (activation_block.h, conv_tactics.h).
#include "backend/cpu/activation_block.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"

namespace refit::cpu {

int ActivationBlock() {
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.Covers(Avx512KernelFeatures())) return 16;
  return cpu.avx2 && cpu.fma ? 8 : 0;
}

std::string BlockedIoSuffix(int in_block, int out_block) {
  std::string s;
  if (in_block > 0) s += "in" + std::to_string(in_block) + "c";
  if (out_block > 0) s += (s.empty() ? "out" : "_out") + std::to_string(out_block) + "c";
  return s.empty() ? s : "/" + s;
}

std::vector<std::pair<int, int>> BlockedIoPairs(const ConvParams& p) {
  const int b = ActivationBlock();
  if (b == 0) return {};
  const bool in = p.in_c % b == 0, out = p.out_c % b == 0;
  std::vector<std::pair<int, int>> pairs;
  if (in) pairs.emplace_back(b, 0);
  if (out) pairs.emplace_back(0, b);
  if (in && out) pairs.emplace_back(b, b);
  return pairs;
}

}  // namespace refit::cpu
