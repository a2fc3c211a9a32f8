// The "gemm_openblas" tactic: cblas_sgemm per output matrix, our epilogue for C and activations.
#include <cblas.h>

#include <algorithm>
#include <string>

#include "backend/cpu/gemm_epilogue.h"
#include "backend/cpu/gemm_tactics.h"

namespace refit::cpu {
namespace {

// OpenBLAS's thread count is process-global: set it only when it differs, since changing it
// re-plans its thread pool. Concurrent runs with different pool sizes race on it (results stay
// correct; only the speed varies).
void SetOpenBlasThreads(int threads) {
  if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
}

class OpenBlasGemmKernel : public backend::Kernel {
 public:
  explicit OpenBlasGemmKernel(const GemmLayer& g) : g_(g) {
    epilogue_.beta = g_.run_beta();
    epilogue_.act = g_.act;
    BiasStrides(g_, &epilogue_.c_row_stride, &epilogue_.c_col_stride);
  }

  Status Run(const backend::KernelIo& io) const override {
    REFIT_RETURN_IF_ERROR(CheckGemmInputs(g_, io, size_t(g_.k * g_.n)));
    float* y = io.outputs[0]->mutable_data_as<float>();
    if (g_.m == 0 || g_.n == 0 || g_.batch() == 0) return Status::Ok();
    const float* a = io.inputs[0]->data_as<float>();
    const float* b = io.inputs[1]->data_as<float>();
    GemmEpilogue ep = epilogue_;
    ep.c = g_.c_form != BiasForm::kNone ? io.inputs[2]->data_as<float>() : nullptr;
    // Single-threaded (cpu_backend.h); batched GEMMs still spread matrices over our pool.
    SetOpenBlasThreads(1);
    const float alpha = g_.run_alpha();
    ForEachGemm(g_, io.pool, [&](int64_t i, ThreadPool* inner) {
      float* yi = y + i * g_.m * g_.n;
      const float* ai = a + g_.a_index[size_t(i)] * g_.m * g_.k;
      const float* bi = b + g_.b_index[size_t(i)] * g_.k * g_.n;
      if (g_.k == 0) {
        std::fill(yi, yi + g_.m * g_.n, 0.0f);
      } else {
        cblas_sgemm(CblasRowMajor, g_.trans_a ? CblasTrans : CblasNoTrans,
                    g_.trans_b ? CblasTrans : CblasNoTrans, int(g_.m), int(g_.n), int(g_.k), alpha,
                    ai, int(g_.trans_a ? g_.m : g_.k), bi, int(g_.trans_b ? g_.k : g_.n), 0.0f, yi,
                    int(g_.n));
      }
      ApplyGemmEpilogue(ep, g_.m, g_.n, yi, inner);
    });
    return Status::Ok();
  }

 private:
  GemmLayer g_;
  GemmEpilogue epilogue_;
};

class OpenBlasGemmTactic : public backend::Tactic {
 public:
  explicit OpenBlasGemmTactic(const GemmLayer& g) : g_(g) {}
  std::string name() const override { return "gemm_openblas"; }

  // B stays in its own layout; alpha and beta are folded in as the other tactics do.
  bool KeepsWeightLayout(size_t input) const override {
    return !((input == 1 && g_.weight_b) || (input == 2 && g_.weight_c));
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input == 1 && g_.weight_b) return ScaledWeight(g_, value);
    if (input == 2 && g_.weight_c) return PackGemmBias(g_, value);
    return Tactic::PackWeight(input, value);
  }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input == 2 && g_.weight_c) {
      return backend::TensorDesc{DataType::kF32, PackedGemmBiasShape(g_, value.shape)};
    }
    return value;  // ScaledWeight keeps B's dtype and shape
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new OpenBlasGemmKernel(g_));
  }

 private:
  GemmLayer g_;
};

}  // namespace

std::unique_ptr<backend::Tactic> MakeOpenBlasGemmTactic(const GemmLayer& g) {
  return std::make_unique<OpenBlasGemmTactic>(g);
}

}  // namespace refit::cpu
