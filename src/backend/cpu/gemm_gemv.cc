// gemm_gemv: a Gemm of one to four rows of A against a weight B stored transposed, W [n, k] (a
// Linear layer exported as Gemm with transB = 1: a classifier or head at batch 1), computed as
// dot products along W's rows. W is used exactly as the model stores it: packing it, and refitting
// it, is a copy (the engine's checked copy), where the packed-panel and oneDNN tactics transpose
// it into their layouts. At these shapes the layer streams W once from memory whatever the
// layout, so the speed is the same: four rows of W at a time, each read once for every row of A.
// Bias (any C form), alpha, beta and the activation go through the GEMM epilogue afterwards.
#include <algorithm>
#include <memory>
#include <string>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/gemm_epilogue.h"
#include "backend/cpu/gemm_microkernel.h"
#include "backend/cpu/gemm_tactics.h"

namespace refit::cpu {
namespace {

constexpr int64_t kMaxRows = 4;
constexpr int64_t kRowsPerTask = 64;  // rows of W per parallel task (64 KiB..1 MiB of W)

class GemvKernel : public backend::Kernel {
 public:
  explicit GemvKernel(const GemmLayer& g) : g_(g) {
    epilogue_.alpha = g_.run_alpha();
    epilogue_.beta = g_.run_beta();
    epilogue_.act = g_.act;
    BiasStrides(g_, &epilogue_.c_row_stride, &epilogue_.c_col_stride);
  }

  Status Run(const backend::KernelIo& io) const override {
    REFIT_RETURN_IF_ERROR(CheckGemmInputs(g_, io, size_t(g_.k * g_.n)));
    const float* a = io.inputs[0]->data_as<float>();
    const float* w = io.inputs[1]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    const int64_t tasks = (g_.n + kRowsPerTask - 1) / kRowsPerTask;
    ParallelFor(io.pool, tasks, [&](int64_t begin, int64_t end) {
      internal::GemvRowsAvx512(int(g_.m), g_.k, a, g_.k, w, begin * kRowsPerTask,
                               std::min(g_.n, end * kRowsPerTask), y, g_.n);
    });
    GemmEpilogue ep = epilogue_;
    ep.c = g_.c_form != BiasForm::kNone ? io.inputs[2]->data_as<float>() : nullptr;
    if (!ep.identity()) ApplyGemmEpilogue(ep, g_.m, g_.n, y, io.pool);
    return Status::Ok();
  }

 private:
  GemmLayer g_;
  GemmEpilogue epilogue_;
};

class GemvTactic : public backend::Tactic {
 public:
  explicit GemvTactic(const GemmLayer& g) : g_(g) {}
  std::string name() const override { return "gemm_gemv/avx512"; }
  std::string required_features() const override { return Avx512KernelFeatures().ToString(); }

  // W as stored; a weight C as the GEMM tactics store it (beta * C, n floats for a row or scalar).
  bool KeepsWeightLayout(size_t input) const override { return !(input == 2 && g_.weight_c); }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input == 2 && g_.weight_c) return PackGemmBias(g_, value);
    return Tactic::PackWeight(input, value);
  }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input == 2 && g_.weight_c) {
      return backend::TensorDesc{DataType::kF32, PackedGemmBiasShape(g_, value.shape)};
    }
    return value;
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (!DetectCpuFeatures().Covers(Avx512KernelFeatures())) {
      return FailedPrecondition("gemm_gemv needs AVX-512");
    }
    return std::unique_ptr<backend::Kernel>(new GemvKernel(g_));
  }

 private:
  GemmLayer g_;
};

}  // namespace

std::unique_ptr<backend::Tactic> MakeGemvTactic(const GemmLayer& g) {
  // W must be usable as stored: a 2-D weight [n, k] (transB), not scaled by alpha, one GEMM.
  if (!g.weight_b || !g.trans_b || g.alpha != 1.0f || g.trans_a || g.b_matrices != 1 ||
      g.batch() != 1 || g.m < 1 || g.m > kMaxRows || g.k < 1) {
    return nullptr;
  }
  if (!DetectCpuFeatures().Covers(Avx512KernelFeatures())) return nullptr;
  return std::make_unique<GemvTactic>(g);
}

}  // namespace refit::cpu
