// conv_openblas: per (image, group), im2col into the workspace (skipped for 1x1 stride-1 unpadded
// convolutions, whose input already is the im2col matrix) and one cblas_sgemm, then the bias +
// activation epilogue.
//
// OpenBLAS (Debian's pthread build) runs its own thread pool; its thread count is process-global,
// so each Run sets it to io.pool's size before calling. Two engines running OpenBLAS layers at
// once with different pool sizes therefore race on that setting (results stay correct, only the
// parallelism changes).
#include <cblas.h>

#include <memory>
#include <string>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_im2col.h"
#include "backend/cpu/conv_tactics.h"

namespace refit::cpu {
namespace {

class ConvOpenBlasKernel : public backend::Kernel {
 public:
  explicit ConvOpenBlasKernel(const ConvParams& p) : p_(p) {}

  size_t workspace_bytes() const override {
    return p_.pointwise() ? 0 : size_t(p_.col_rows() * p_.out_size()) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, w, bias, y] = ConvOperandsOf(io);
    float* col = static_cast<float*>(io.workspace);
    const int64_t cg = p_.in_c_per_group(), mg = p_.out_c_per_group(), k = p_.col_rows();
    const int64_t hw = p_.out_size();
    // Single-threaded (cpu_backend.h): OpenBLAS's spinning workers would fight our pool's.
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    for (int64_t n = 0; n < p_.batch; ++n) {
      for (int64_t g = 0; g < p_.group; ++g) {
        const float* xg = x + (n * p_.in_c + g * cg) * p_.in_size();
        float* yg = y + (n * p_.out_c + g * mg) * hw;
        if (!p_.pointwise()) {
          ParallelFor(io.pool, k,
                      [&](int64_t begin, int64_t end) { Im2ColRows(p_, xg, begin, end, col); });
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(mg), int(hw), int(k), 1.0f,
                    w + g * mg * k, int(k), p_.pointwise() ? xg : col, int(hw), 0.0f, yg, int(hw));
        BiasActivation(p_.act, bias != nullptr ? bias + g * mg : nullptr, yg, mg, hw, hw, io.pool);
      }
    }
    return Status::Ok();
  }

 private:
  ConvParams p_;
};

class ConvOpenBlasTactic : public backend::Tactic {
 public:
  explicit ConvOpenBlasTactic(const ConvParams& p) : p_(p) {}
  std::string name() const override { return "conv_openblas"; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new ConvOpenBlasKernel(p_));
  }

 private:
  ConvParams p_;
};

}  // namespace

void AddConvOpenBlasTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out) {
  // cblas takes int dimensions; depthwise layers are left to the direct kernels.
  constexpr int64_t kIntMax = 0x7fffffff;
  if (p.depthwise() || p.col_rows() * p.out_size() > kIntMax || p.out_c > kIntMax) return;
  out->push_back(std::make_unique<ConvOpenBlasTactic>(p));
}

}  // namespace refit::cpu
