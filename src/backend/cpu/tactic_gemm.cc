// Gemm and MatMul tactics: our packed GEMM (one tactic per micro-kernel), our GEMV for a few rows
// against a stored transB weight, OpenBLAS and oneDNN.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/gemm_epilogue.h"
#include "backend/cpu/gemm_tactics.h"
#include "base/finite.h"

namespace refit::cpu {
namespace {

// The fused activations GemmPacked applies itself.
std::optional<Activation> NativeActivation(const ir::FusedActivation& act) {
  switch (act.kind) {
    case ir::ActivationKind::kNone:
      return Activation::kNone;
    case ir::ActivationKind::kRelu:
      return Activation::kRelu;
    case ir::ActivationKind::kClip:
      if (act.alpha == 0.0f && act.beta == 6.0f) return Activation::kRelu6;
      if (act.alpha == 0.0f && act.beta == INFINITY) return Activation::kRelu;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// Dense transpose of a rows x cols matrix, in 8x8 blocks so both sides stay in cache.
void Transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t kBlock = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r) {
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

class PackedGemmKernel : public backend::Kernel {
 public:
  // direct_b: an activation B (not transposed) is read in place (GemmDirectB), not packed.
  PackedGemmKernel(const GemmLayer& g, const GemmKernelInfo& info, bool direct_b)
      : g_(g), info_(info), direct_b_(direct_b) {
    packed_b_floats_ = PackedBSize(info_, g_.k, g_.n);
    const std::optional<Activation> native = NativeActivation(g_.act);
    // A row-shaped C rides on GemmPacked's bias unless alpha must still scale the product.
    fuse_bias_ = g_.row_bias() && g_.run_alpha() == 1.0f;
    const bool rest_fused = g_.run_alpha() == 1.0f && (g_.c_form == BiasForm::kNone || fuse_bias_);
    native_ = rest_fused && native ? *native : Activation::kNone;
    epilogue_.alpha = g_.run_alpha();
    epilogue_.beta = g_.run_beta();
    if (!(rest_fused && native)) epilogue_.act = g_.act;
    BiasStrides(g_, &epilogue_.c_row_stride, &epilogue_.c_col_stride);
    // An activation C that is not already the bias GemmPacked wants goes through the workspace.
    bias_in_workspace_ =
        fuse_bias_ && !g_.weight_c && (g_.c_form == BiasForm::kScalar || g_.beta != 1.0f);
    a_t_bytes_ = g_.trans_a ? AlignedFloatBytes(size_t(g_.m * g_.k)) : 0;
    b_bytes_ =
        g_.weight_b || direct_b_ ? 0 : AlignedFloatBytes(size_t(g_.b_matrices) * packed_b_floats_);
    bias_bytes_ = bias_in_workspace_ ? AlignedFloatBytes(size_t(g_.n)) : 0;
  }

  size_t workspace_bytes() const override { return a_t_bytes_ + b_bytes_ + bias_bytes_; }

  Status Run(const backend::KernelIo& io) const override {
    REFIT_RETURN_IF_ERROR(CheckGemmInputs(g_, io, packed_b_floats_));
    float* y = io.outputs[0]->mutable_data_as<float>();
    if (g_.m == 0 || g_.n == 0 || g_.batch() == 0) return Status::Ok();
    char* ws = static_cast<char*>(io.workspace);
    const float* a = io.inputs[0]->data_as<float>();
    if (g_.trans_a) {
      float* a_t = reinterpret_cast<float*>(ws);
      Transpose(a, g_.k, g_.m, a_t);
      a = a_t;
    }
    const float* packed_b = io.inputs[1]->data_as<float>();
    if (!g_.weight_b && !direct_b_) {
      float* dst = reinterpret_cast<float*>(ws + a_t_bytes_);
      const float* b = packed_b;
      const int64_t ldb = g_.trans_b ? g_.k : g_.n;
      ParallelFor(io.pool, g_.b_matrices, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          PackB(info_, b + j * g_.k * g_.n, ldb, g_.trans_b, g_.k, g_.n,
                dst + j * int64_t(packed_b_floats_));
        }
      });
      packed_b = dst;
    }
    const float* c = g_.c_form != BiasForm::kNone ? io.inputs[2]->data_as<float>() : nullptr;
    const float* bias = fuse_bias_ ? c : nullptr;
    if (bias_in_workspace_) {
      float* b = reinterpret_cast<float*>(ws + a_t_bytes_ + b_bytes_);
      for (int64_t j = 0; j < g_.n; ++j) b[j] = g_.beta * c[g_.c_form == BiasForm::kRow ? j : 0];
      bias = b;
    }
    GemmEpilogue ep = epilogue_;
    ep.c = fuse_bias_ ? nullptr : c;
    ForEachGemm(g_, io.pool, [&](int64_t i, ThreadPool* inner) {
      float* yi = y + i * g_.m * g_.n;
      const float* ai = a + g_.a_index[size_t(i)] * g_.m * g_.k;
      if (direct_b_) {
        GemmDirectB(info_, g_.m, g_.n, g_.k, ai, g_.k,
                    packed_b + g_.b_index[size_t(i)] * g_.k * g_.n, g_.n, bias, yi, g_.n, native_,
                    inner);
      } else {
        GemmPacked(info_, g_.m, g_.n, g_.k, ai, g_.k,
                   packed_b + g_.b_index[size_t(i)] * int64_t(packed_b_floats_), bias, yi, g_.n,
                   native_, inner);
      }
      ApplyGemmEpilogue(ep, g_.m, g_.n, yi, inner);
    });
    return Status::Ok();
  }

 private:
  GemmLayer g_;
  GemmKernelInfo info_;
  bool direct_b_ = false;
  size_t packed_b_floats_ = 0;
  bool fuse_bias_ = false;
  bool bias_in_workspace_ = false;
  Activation native_ = Activation::kNone;
  GemmEpilogue epilogue_;
  size_t a_t_bytes_ = 0, b_bytes_ = 0, bias_bytes_ = 0;
};

// "gemm_packed/<kernel>": GemmPacked with one micro-kernel; B packed at build time when it is a
// weight, into the workspace at run time otherwise. "gemm_packed/<kernel>_directb": an activation
// B, not transposed, read in place (GemmDirectB).
class PackedGemmTactic : public backend::Tactic {
 public:
  PackedGemmTactic(const GemmLayer& g, const GemmKernelInfo& info, std::string name,
                   bool direct_b = false)
      : g_(g), info_(info), name_(std::move(name)), direct_b_(direct_b) {}

  std::string name() const override { return name_; }
  std::string required_features() const override { return info_.RequiredFeatures().ToString(); }

  bool KeepsWeightLayout(size_t input) const override {
    return !((input == 1 && g_.weight_b) || (input == 2 && g_.weight_c));
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input == 1 && g_.weight_b) {
      // alpha folds into B; with alpha 1 the value is packed straight from its own memory.
      Tensor scaled;
      if (g_.alpha != 1.0f) {
        REFIT_ASSIGN_OR_RETURN(scaled, ScaledWeight(g_, value));
      }
      const Tensor& b = g_.alpha != 1.0f ? scaled : value;
      if (b.dtype() != DataType::kF32 || b.NumElements() != g_.k * g_.n) {
        return InvalidArgument("GEMM weight B: expected " + std::to_string(g_.k * g_.n) +
                               " f32 elements, found " + b.shape().ToString());
      }
      const int64_t floats = int64_t(PackedBSize(info_, g_.k, g_.n));
      // PackB writes every float, padding included.
      REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Uninitialized(DataType::kF32, Shape({floats})));
      PackB(info_, b.data_as<float>(), g_.trans_b ? g_.k : g_.n, g_.trans_b, g_.k, g_.n,
            packed.mutable_data_as<float>());
      return packed;
    }
    if (input == 2 && g_.weight_c) return PackGemmBias(g_, value);
    return Tactic::PackWeight(input, value);
  }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input == 1 && g_.weight_b) {
      return backend::TensorDesc{DataType::kF32, Shape({int64_t(PackedBSize(info_, g_.k, g_.n))})};
    }
    if (input == 2 && g_.weight_c) {
      return backend::TensorDesc{DataType::kF32, PackedGemmBiasShape(g_, value.shape)};
    }
    return value;
  }

  // A transB weight (a Linear layer exported as Gemm) packs in the transposed-panel pass, which
  // checks values as it goes.
  bool PacksChecked(size_t input) const override {
    return input == 1 && g_.weight_b && g_.alpha == 1.0f && g_.trans_b;
  }

  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override {
    if (!PacksChecked(input)) return Tactic::PackWeightChecked(input, value);
    if (value.dtype() != DataType::kF32 || value.NumElements() != g_.k * g_.n) {
      return InvalidArgument("GEMM weight B: expected " + std::to_string(g_.k * g_.n) +
                             " f32 elements, found " + value.shape().ToString());
    }
    const int64_t floats = int64_t(PackedBSize(info_, g_.k, g_.n));
    REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Uninitialized(DataType::kF32, Shape({floats})));
    if (!PackBScaledTransposed(info_, value.data_as<float>(), g_.k, g_.k, g_.n, nullptr,
                               packed.mutable_data_as<float>())) {
      return InvalidArgument("GEMM weight B: a value is not finite");
    }
    return packed;
  }

  bool PacksTransposed(size_t input) const override {
    return input == 1 && g_.weight_b && g_.alpha == 1.0f;
  }

  // B = source^T: PackB reads the source with the opposite transB.
  StatusOr<Tensor> PackWeightTransposed(size_t input, const Tensor& source) const override {
    if (!PacksTransposed(input)) return Tactic::PackWeightTransposed(input, source);
    const int64_t rows = g_.trans_b ? g_.k : g_.n;  // source^T is B as the layer stores it
    if (source.dtype() != DataType::kF32 || source.shape().rank() != 2 ||
        source.shape()[0] != rows || source.NumElements() != g_.k * g_.n) {
      return InvalidArgument("GEMM weight B: expected the transpose of an f32 [" +
                             std::to_string(rows) + ", " + std::to_string(g_.k * g_.n / rows) +
                             "] matrix, found " + source.shape().ToString());
    }
    const int64_t floats = int64_t(PackedBSize(info_, g_.k, g_.n));
    REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Uninitialized(DataType::kF32, Shape({floats})));
    float* out = packed.mutable_data_as<float>();
    if (!g_.trans_b) {
      // The usual case (a MatMul weight stored [n, k]): checked for non-finite values as packed.
      if (!PackBScaledTransposed(info_, source.data_as<float>(), g_.k, g_.k, g_.n, nullptr, out)) {
        return InvalidArgument("GEMM weight B: a value is not finite");
      }
      return packed;
    }
    if (FirstNonFinite(source.view()) >= 0) {
      return InvalidArgument("GEMM weight B: a value is not finite");
    }
    PackB(info_, source.data_as<float>(), g_.n, /*trans_b=*/false, g_.k, g_.n, out);
    return packed;
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckGemmKernel(info_, DetectCpuFeatures()));
    return std::unique_ptr<backend::Kernel>(new PackedGemmKernel(g_, info_, direct_b_));
  }

 private:
  GemmLayer g_;
  GemmKernelInfo info_;
  std::string name_;
  bool direct_b_;
};

// The kernels this CPU runs, with their tactic names: listed once (every layer of every engine
// load lists them).
struct NamedKernel {
  GemmKernelInfo info;
  std::string name, direct_b_name;
};
const std::vector<NamedKernel>& NamedKernels() {
  static const std::vector<NamedKernel> kernels = [] {
    std::vector<NamedKernel> v;
    for (const GemmKernelInfo& info : DetectedGemmKernels()) {
      const std::string name = "gemm_packed/" + info.Name();
      v.push_back(NamedKernel{info, name, name + "_directb"});
    }
    return v;
  }();
  return kernels;
}

}  // namespace

void AddGemmTactics(const backend::LayerDesc& layer, TacticList* out, std::string_view name) {
  const std::optional<GemmLayer> g = ParseGemmLayer(layer);
  if (!g) return;
  const std::string_view family = name.substr(0, name.find('/'));
  if (family.empty() || family == "gemm_packed") {
    // B read in place: an activation B as it lies, with the kernels that read A in place too.
    const bool direct_b = !g->weight_b && !g->trans_b;
    for (const NamedKernel& k : NamedKernels()) {
      if (name.empty() || k.name == name) {
        out->push_back(std::make_unique<PackedGemmTactic>(*g, k.info, k.name));
      }
      if (direct_b && !k.info.pack_a && (name.empty() || k.direct_b_name == name)) {
        out->push_back(std::make_unique<PackedGemmTactic>(*g, k.info, k.direct_b_name, true));
      }
    }
  }
  if (family.empty() || family == "gemm_gemv") {
    if (std::unique_ptr<backend::Tactic> gemv = MakeGemvTactic(*g)) out->push_back(std::move(gemv));
  }
  if (family.empty() || family == "gemm_openblas") out->push_back(MakeOpenBlasGemmTactic(*g));
  if (family.empty() || family == "gemm_dnnl") {
    for (std::unique_ptr<backend::Tactic>& dnnl : MakeDnnlGemmTactics(*g, name)) {
      out->push_back(std::move(dnnl));
    }
  }
}

}  // namespace refit::cpu
