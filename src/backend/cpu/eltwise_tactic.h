// Internal to backend/cpu: what other tactic families reuse of the element-wise interpreter
// (tactic_eltwise.cc): fused activations as programs, run in place over contiguous floats.
#pragma once

#include <optional>
#include <vector>

#include "backend/cpu/eltwise_kernel.h"
#include "ir/fused_elementwise.h"
#include "ir/fused_ops.h"

namespace refit::cpu {

// act(x) as a program over one input (kNone: nullopt).
std::optional<ir::EwProgram> ActivationProgram(const ir::FusedActivation& act);

// A one-input program applied in place over runs of floats. Immutable, thread-safe.
class InPlaceProgram {
 public:
  InPlaceProgram(const ir::EwProgram& program, internal::EwBlockFn fn);
  void Run(float* data, int64_t n) const;

 private:
  std::vector<internal::EwCode> code_;
  std::vector<float> constants_;
  internal::EwBlockFn fn_;
};

}  // namespace refit::cpu
