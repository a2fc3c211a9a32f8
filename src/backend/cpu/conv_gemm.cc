// conv_gemm: each (image, group) is one GEMM, Y_g [M/g x HW] = W_g [M/g x K] * col [K x HW], with
// the im2col matrix written straight into GemmPacked's packed-B layout in the workspace from
// zero-padded phase planes of the input (conv_im2col.h: no bounds checks, vector copies, no
// separate im2col matrix), and W read in place as A. A 1x1 stride-1 unpadded convolution packs X
// itself, or with the `_directb` variants reads X in place (GemmDirectB: X is used once, so
// packing it is a whole extra pass over the input). Bias is per row here: with an activation
// GemmPacked fuses (none, Relu, Relu6) it is GemmPacked's row bias, added in the micro-kernel's
// last pass; any other activation runs with the bias as a vectorised epilogue afterwards. With a
// thread pool and a batch that shares evenly over its threads, each thread takes whole images (and
// a scratch of its own); otherwise the threads share each image's packing and GEMM.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_im2col.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {
namespace {

class ConvGemmKernel : public backend::Kernel {
 public:
  ConvGemmKernel(const ConvParams& p, const GemmKernelInfo& info, bool direct_b)
      : p_(p),
        info_(info),
        direct_b_(direct_b),
        layout_(p),
        native_act_(NativeGemmActivation(p.act)),
        row_off_(p.pointwise() ? PointwiseRowOffsets(p) : Im2ColRowOffsets(p, layout_)) {
    packed_floats_ =
        direct_b ? 0 : (PackedBSize(info_, p_.col_rows(), p_.out_size()) + 15) / 16 * 16;
    // Phase planes of one group's channels, plus the panel writer's overrun slack.
    plane_floats_ = p.pointwise() ? 0 : p.in_c_per_group() * layout_.plane_floats + info.nr;
  }

  size_t workspace_bytes() const override {
    return size_t(packed_floats_ + plane_floats_) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, w, bias, y] = ConvOperandsOf(io);
    // Whole images per thread when they share evenly (one fork-join for the layer instead of
    // three or four per image); otherwise the threads share each image's packing and GEMM.
    RunUnits(io.pool, p_.batch, workspace_bytes() / sizeof(float),
             static_cast<float*>(io.workspace), [&](int64_t n, float* scratch, ThreadPool* pool) {
               RunImage(n, x, w, bias, y, scratch, pool);
             });
    return Status::Ok();
  }

 private:
  // Every group of image n, on `pool` (null: the calling thread), with `scratch` as workspace.
  void RunImage(int64_t n, const float* x, const float* w, const float* bias, float* y,
                float* scratch, ThreadPool* pool) const {
    float* packed = scratch;
    float* planes = packed + packed_floats_;
    const int64_t cg = p_.in_c_per_group(), mg = p_.out_c_per_group(), k = p_.col_rows();
    const int64_t hw = p_.out_size(), nr = info_.nr, panels = (hw + nr - 1) / nr;
    for (int64_t g = 0; g < p_.group; ++g) {
      const float* xg = x + (n * p_.in_c + g * cg) * p_.in_size();
      float* yg = y + (n * p_.out_c + g * mg) * hw;
      const float* bg = bias != nullptr ? bias + g * mg : nullptr;
      if (direct_b_) {  // pointwise: X_g [K x HW] is B as it lies
        GemmDirectB(info_, mg, hw, k, w + g * mg * k, k, xg, hw, nullptr, yg, hw,
                    native_act_.value_or(Activation::kNone), pool, /*accumulate_c=*/false,
                    native_act_.has_value() ? bg : nullptr);
        if (!native_act_.has_value()) BiasActivation(p_.act, bg, yg, mg, hw, hw, pool);
        continue;
      }
      if (!p_.pointwise()) {
        ParallelFor(pool, cg, [&](int64_t begin, int64_t end) {
          FillPhasePlanes(p_, layout_, xg, begin, end, planes);
        });
      }
      ParallelFor(pool, panels, [&](int64_t begin, int64_t end) {
        if (p_.pointwise()) {
          PackPointwisePanels(p_, xg, row_off_.data(), nr, begin, end, packed);
        } else {
          PackIm2ColPanels(p_, layout_, planes, row_off_.data(), nr, begin, end, packed);
        }
      });
      GemmPacked(info_, mg, hw, k, w + g * mg * k, k, packed, nullptr, yg, hw,
                 native_act_.value_or(Activation::kNone), pool, /*accumulate_c=*/false,
                 native_act_.has_value() ? bg : nullptr);
      if (!native_act_.has_value()) BiasActivation(p_.act, bg, yg, mg, hw, hw, pool);
    }
  }

  ConvParams p_;
  GemmKernelInfo info_;
  bool direct_b_;
  PhaseLayout layout_;
  std::optional<Activation> native_act_;
  std::vector<int64_t> row_off_;  // per im2col row, see Im2ColRowOffsets
  int64_t packed_floats_ = 0, plane_floats_ = 0;
};

class ConvGemmTactic : public backend::Tactic {
 public:
  ConvGemmTactic(const ConvParams& p, const GemmKernelInfo& info, bool direct_b)
      : p_(p), info_(info), direct_b_(direct_b) {}
  std::string name() const override {
    return "conv_gemm/" + info_.Name() + (direct_b_ ? "_directb" : "");
  }
  std::string required_features() const override { return info_.RequiredFeatures().ToString(); }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckGemmKernel(info_, DetectCpuFeatures()));
    return std::unique_ptr<backend::Kernel>(new ConvGemmKernel(p_, info_, direct_b_));
  }

 private:
  ConvParams p_;
  GemmKernelInfo info_;
  bool direct_b_;
};

}  // namespace

void AddConvGemmTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out) {
  // Depthwise layers have their own direct kernels; one-row GEMMs per channel would only lose.
  if (p.depthwise()) return;
  for (const GemmKernelInfo& info : DetectedGemmKernels()) {
    if (info.nr > 64) continue;  // Im2ColPackPanels' limit
    out->push_back(std::make_unique<ConvGemmTactic>(p, info, /*direct_b=*/false));
    // A pointwise input read in place, with the kernels that read A (the weight) in place too.
    if (p.pointwise() && !info.pack_a) {
      out->push_back(std::make_unique<ConvGemmTactic>(p, info, /*direct_b=*/true));
    }
  }
}

}  // namespace refit::cpu
