// Internal to conv_winograd.cc and conv_winograd_blocked.cc: the weight side both Winograd tactics
// share (the definitions are in conv_winograd.cc). Input 1, the weight W [M, C, 3, 3], is packed
// into a transform the subclass names (PackedFloats, PackInto); the plain, checked and scaled-rows
// packs all go through it, so they give the same bytes for the same (scaled) values.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/conv_params.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {

class WinogradTacticBase : public backend::Tactic {
 public:
  // F(r x r, 3x3) with GEMM kernel `info`, running with `features`; `label` names the tactic in
  // errors ("conv_winograd").
  WinogradTacticBase(const ConvParams& p, const GemmKernelInfo& info, int r, CpuFeatures features,
                     std::string label);

  std::string required_features() const override { return features_.ToString(); }
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }
  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override;
  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override;
  bool PacksChecked(size_t input) const override { return input == 1; }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override;
  bool PacksScaledRows(size_t input) const override { return input == 1; }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override;

 protected:
  // Floats of the packed weight.
  virtual int64_t PackedFloats() const = 0;
  // Writes the packed weight of w (times row_scale[m] when given, the product rounded first) into
  // `out` (PackedFloats floats); false when a scaled value is not finite.
  virtual bool PackInto(const float* w, const float* row_scale, float* out) const = 0;
  // OK when this machine runs the GEMM kernel and `features`.
  Status CheckRunnable() const;

  ConvParams p_;
  GemmKernelInfo info_;
  int r_;

 private:
  // `checked`: a non-finite (scaled) weight value is an error.
  StatusOr<Tensor> Pack(const Tensor& value, const float* row_scale, bool checked) const;

  CpuFeatures features_;
  std::string label_;
};

}  // namespace refit::cpu
