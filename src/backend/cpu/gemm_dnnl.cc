// The "gemm_dnnl/<layout>" tactic: a oneDNN matmul primitive for a GEMM whose B is one 2-D weight.
//
// The weights are packed into the layout oneDNN prefers for this shape on this CPU (by our one-pass
// blocked packer, blocked_pack.h, when the layout blocks each dim at most once; by a oneDNN
// reorder otherwise); the layout is part of the tactic's name, so an engine loaded where oneDNN
// would prefer another layout finds no tactic by that name instead of reading weights in the wrong
// layout. Concurrent runs are safe: the primitive is immutable, each run brings its own memory
// objects, stream and scratchpad (the caller's workspace, scratchpad_mode::user).
#include <algorithm>
#include <cstring>
#include <numeric>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dnnl_layout.h"
#include "backend/cpu/gemm_epilogue.h"
#include "backend/cpu/gemm_tactics.h"
#include "backend/cpu/transpose_f32.h"

namespace refit::cpu {
namespace {

using dnnl::memory;
using Dims = memory::dims;

// The dnnl eltwise post-op for a fused activation; nullopt when oneDNN 2.6 has none.
struct EltwiseOp {
  dnnl::algorithm alg;
  float alpha, beta;
};
std::optional<EltwiseOp> DnnlActivation(const ir::FusedActivation& act) {
  using dnnl::algorithm;
  switch (act.kind) {
    case ir::ActivationKind::kRelu:
      return EltwiseOp{algorithm::eltwise_relu, 0.0f, 0.0f};
    case ir::ActivationKind::kLeakyRelu:
      return EltwiseOp{algorithm::eltwise_relu, act.alpha, 0.0f};
    case ir::ActivationKind::kClip:
      return EltwiseOp{algorithm::eltwise_clip_v2, act.alpha, act.beta};
    case ir::ActivationKind::kSigmoid:
      return EltwiseOp{algorithm::eltwise_logistic, 0.0f, 0.0f};
    case ir::ActivationKind::kSilu:
      return EltwiseOp{algorithm::eltwise_swish, 1.0f, 0.0f};
    case ir::ActivationKind::kGelu:
      return EltwiseOp{algorithm::eltwise_gelu_erf, 0.0f, 0.0f};
    case ir::ActivationKind::kTanh:
      return EltwiseOp{algorithm::eltwise_tanh, 0.0f, 0.0f};
    case ir::ActivationKind::kHardSwish:
      return EltwiseOp{algorithm::eltwise_hardswish, 0.0f, 0.0f};
    default:
      return std::nullopt;
  }
}

// A blocked layout as oneDNN names its format tags: outer dims by decreasing stride, upper case
// when the dim is also blocked, then the inner blocks ("ab", "ba", "BA16a64b4a").
std::string LayoutName(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) return "fmt" + std::to_string(int(d.format_kind));
  const dnnl_blocking_desc_t& blk = d.format_desc.blocking;
  std::vector<int> order(size_t(d.ndims));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return blk.strides[x] > blk.strides[y]; });
  std::string name;
  for (int dim : order) {
    bool blocked = false;
    for (int i = 0; i < blk.inner_nblks; ++i) blocked = blocked || blk.inner_idxs[i] == dim;
    name += char((blocked ? 'A' : 'a') + dim);
  }
  for (int i = 0; i < blk.inner_nblks; ++i) {
    name += std::to_string(blk.inner_blks[i]) + char('a' + blk.inner_idxs[i]);
  }
  return name;
}

// Everything the kernel needs, built once per tactic.
struct DnnlPlan {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::matmul::primitive_desc pd;
  memory::desc src_md, bias_md, dst_md;
  bool bias = false;      // C goes to the primitive as its bias
  GemmEpilogue epilogue;  // what the primitive does not do
};

// B exactly as the weight stores it: [k, n] row-major, or its transpose for transB.
memory::desc StoredWeightsDesc(const GemmLayer& g) {
  return memory::desc({g.k, g.n}, memory::data_type::f32, g.trans_b ? Dims{1, g.k} : Dims{g.n, 1});
}

// `as_stored`: B in the weight's own layout (no reorder at pack time, so a refit is a copy)
// instead of the layout oneDNN prefers.
std::optional<DnnlPlan> MakePlan(const GemmLayer& g, bool as_stored) {
  DnnlPlan p;
  const memory::dim m = g.m, n = g.n, k = g.k;
  p.src_md = memory::desc({m, k}, memory::data_type::f32, g.trans_a ? Dims{1, m} : Dims{k, 1});
  p.dst_md = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc weights_any =
      as_stored ? StoredWeightsDesc(g)
                : memory::desc({k, n}, memory::data_type::f32, memory::format_tag::any);
  p.bias = g.c_form != BiasForm::kNone && (g.weight_c || g.beta == 1.0f);
  if (p.bias) {
    int64_t row_stride = 0, col_stride = 0;
    BiasStrides(g, &row_stride, &col_stride);
    p.bias_md = memory::desc({row_stride != 0 ? m : 1, col_stride != 0 ? n : 1},
                             memory::data_type::f32, memory::format_tag::ab);
  }
  const std::optional<EltwiseOp> post = DnnlActivation(g.act);
  // The activation follows C, so it can be a post-op only when C is the primitive's bias.
  const bool fuse_act = post && (g.c_form == BiasForm::kNone || p.bias);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (fuse_act && g.act.kind != ir::ActivationKind::kNone) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, post->alg, post->alpha, post->beta);
    attr.set_post_ops(ops);
  }
  if (!fuse_act) p.epilogue.act = g.act;
  if (!p.bias && g.c_form != BiasForm::kNone) {
    BiasStrides(g, &p.epilogue.c_row_stride, &p.epilogue.c_col_stride);
    p.epilogue.beta = g.run_beta();
  }
  try {
    const dnnl::matmul::desc desc =
        p.bias ? dnnl::matmul::desc(p.src_md, weights_any, p.bias_md, p.dst_md)
               : dnnl::matmul::desc(p.src_md, weights_any, p.dst_md);
    p.pd = dnnl::matmul::primitive_desc(desc, attr, p.engine);
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
  return p;
}

class DnnlGemmKernel : public backend::Kernel {
 public:
  DnnlGemmKernel(const GemmLayer& g, const DnnlPlan& plan)
      : g_(g), plan_(plan), primitive_(plan.pd) {}

  size_t workspace_bytes() const override { return plan_.pd.scratchpad_desc().get_size(); }

  Status Run(const backend::KernelIo& io) const override {
    const size_t weight_floats = plan_.pd.weights_desc().get_size() / sizeof(float);
    REFIT_RETURN_IF_ERROR(CheckGemmInputs(g_, io, weight_floats));
    float* y = io.outputs[0]->mutable_data_as<float>();
    if (g_.m == 0 || g_.n == 0) return Status::Ok();
    const float* c = g_.c_form != BiasForm::kNone ? io.inputs[2]->data_as<float>() : nullptr;
    SetOpenMpThreads(1);  // see cpu_backend.h: external libraries run single-threaded
    try {
      const dnnl::engine& eng = plan_.engine;
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC,
           memory(plan_.src_md, eng, const_cast<float*>(io.inputs[0]->data_as<float>()))},
          {DNNL_ARG_WEIGHTS, memory(plan_.pd.weights_desc(), eng,
                                    const_cast<float*>(io.inputs[1]->data_as<float>()))},
          {DNNL_ARG_DST, memory(plan_.dst_md, eng, y)},
          {DNNL_ARG_SCRATCHPAD, memory(plan_.pd.scratchpad_desc(), eng, io.workspace)}};
      if (plan_.bias) {
        args.emplace(DNNL_ARG_BIAS, memory(plan_.bias_md, eng, const_cast<float*>(c)));
      }
      dnnl::stream stream(eng);
      primitive_.execute(stream, args);
      stream.wait();
    } catch (const dnnl::error& e) {
      return Internal("oneDNN matmul failed: " + std::string(e.what()));
    }
    GemmEpilogue ep = plan_.epilogue;
    ep.c = plan_.bias ? nullptr : c;
    ApplyGemmEpilogue(ep, g_.m, g_.n, y, io.pool);
    return Status::Ok();
  }

 private:
  GemmLayer g_;
  DnnlPlan plan_;
  dnnl::matmul primitive_;
};

class DnnlGemmTactic : public backend::Tactic {
 public:
  DnnlGemmTactic(const GemmLayer& g, DnnlPlan plan, bool as_stored)
      : g_(g), plan_(std::move(plan)), as_stored_(as_stored) {
    if (!as_stored_) layout_ = BlockedLayoutOf(plan_.pd.weights_desc());
  }

  // "gemm_dnnl/stored_ba": B read as the weight stores it (here transposed); "gemm_dnnl/<layout>":
  // B reordered into the layout oneDNN prefers.
  std::string name() const override {
    return std::string("gemm_dnnl/") + (as_stored_ ? "stored_" : "") +
           LayoutName(plan_.pd.weights_desc());
  }

  bool KeepsWeightLayout(size_t input) const override {
    if (input == 1) return as_stored_;
    return !(input == 2 && g_.weight_c);
  }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input == 2 && g_.weight_c) {
      return backend::TensorDesc{DataType::kF32, PackedGemmBiasShape(g_, value.shape)};
    }
    if (input != 1 || as_stored_) return value;
    const size_t bytes = plan_.pd.weights_desc().get_size();
    return backend::TensorDesc{DataType::kF32,
                               Shape({int64_t((bytes + sizeof(float) - 1) / sizeof(float))})};
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input == 2 && g_.weight_c) return PackGemmBias(g_, value);
    if (input != 1 || as_stored_) return Tactic::PackWeight(input, value);
    if (layout_) return PackOwn(value, g_.trans_b, /*checked=*/false);
    REFIT_ASSIGN_OR_RETURN(Tensor b, ScaledWeight(g_, value));
    const memory::desc& packed_md = plan_.pd.weights_desc();
    const int64_t floats = int64_t((packed_md.get_size() + sizeof(float) - 1) / sizeof(float));
    REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Create(DataType::kF32, Shape({floats})));
    try {
      const memory::desc plain({g_.k, g_.n}, memory::data_type::f32,
                               g_.trans_b ? Dims{1, g_.k} : Dims{g_.n, 1});
      memory src(plain, plan_.engine, b.mutable_data());
      memory dst(packed_md, plan_.engine, packed.mutable_data());
      SetOpenMpThreads(1);  // refit packs slots on its own threads (see conv_dnnl.cc)
      dnnl::stream stream(plan_.engine);
      dnnl::reorder(src, dst).execute(stream, src, dst);
      stream.wait();
    } catch (const dnnl::error& e) {
      return Internal("oneDNN weight reorder failed: " + std::string(e.what()));
    }
    return packed;
  }

  // Our packer checks values as it writes them, and reads a transposed source in place.
  bool PacksChecked(size_t input) const override { return input == 1 && layout_.has_value(); }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override {
    if (!PacksChecked(input)) return Tactic::PackWeightChecked(input, value);
    return PackOwn(value, g_.trans_b, /*checked=*/true);
  }
  bool PacksTransposed(size_t input) const override { return PacksChecked(input); }
  StatusOr<Tensor> PackWeightTransposed(size_t input, const Tensor& source) const override {
    if (!PacksTransposed(input)) return Tactic::PackWeightTransposed(input, source);
    const int64_t rows = g_.trans_b ? g_.k : g_.n;  // source^T is B as the layer stores it
    if (source.shape().rank() != 2 || source.shape()[0] != rows) {
      return InvalidArgument("GEMM weight B: expected the transpose of an f32 [" +
                             std::to_string(rows) + ", " + std::to_string(g_.k * g_.n / rows) +
                             "] matrix, found " + source.shape().ToString());
    }
    return PackOwn(source, !g_.trans_b, /*checked=*/true);
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    try {
      return std::unique_ptr<backend::Kernel>(new DnnlGemmKernel(g_, plan_));
    } catch (const dnnl::error& e) {
      return Internal("oneDNN matmul primitive: " + std::string(e.what()));
    }
  }

 private:
  // B = alpha * value (value [n, k] when `trans`, else [k, n]) in layout_, in one pass.
  StatusOr<Tensor> PackOwn(const Tensor& value, bool trans, bool checked) const {
    if (value.dtype() != DataType::kF32 || value.NumElements() != g_.k * g_.n) {
      return InvalidArgument("GEMM weight B: expected " + std::to_string(g_.k * g_.n) +
                             " f32 elements, found " + std::string(DataTypeName(value.dtype())) +
                             " " + value.shape().ToString());
    }
    const Shape shape({layout_->floats});
    REFIT_ASSIGN_OR_RETURN(Tensor packed, layout_->Dense()
                                              ? Tensor::Uninitialized(DataType::kF32, shape)
                                              : Tensor::Create(DataType::kF32, shape));
    const bool finite = PackBlocked2D(*layout_, value.data_as<float>(), trans ? 1 : g_.n,
                                      trans ? g_.k : 1, g_.alpha, packed.mutable_data_as<float>());
    if (checked && !finite) {
      return InvalidArgument(g_.alpha == 1.0f ? "GEMM weight B: a value is not finite"
                                              : "GEMM weight B: a value times alpha " +
                                                    std::to_string(g_.alpha) + " is not finite");
    }
    return packed;
  }

  GemmLayer g_;
  DnnlPlan plan_;
  bool as_stored_ = false;
  std::optional<BlockedLayout2D> layout_;  // the preferred layout, when our packer writes it
};

}  // namespace

std::vector<std::unique_ptr<backend::Tactic>> MakeDnnlGemmTactics(const GemmLayer& g,
                                                                  std::string_view name) {
  std::vector<std::unique_ptr<backend::Tactic>> out;
  if (!g.weight_b || g.batch() != 1 || g.m == 0 || g.n == 0 || g.k == 0) return out;
  std::optional<DnnlPlan> preferred = MakePlan(g, /*as_stored=*/false);
  // The stored layout as a tactic of its own when oneDNN prefers another one: it may run a little
  // slower, but its refit is a plain copy (alpha must be 1: nothing is folded into B).
  const bool preferred_is_stored =
      preferred && preferred->pd.weights_desc() == StoredWeightsDesc(g);
  if (preferred) {
    out.push_back(std::make_unique<DnnlGemmTactic>(g, std::move(*preferred), false));
  }
  // A load asks for one tactic by name: the stored variant only when it is the one named.
  const bool want_stored = name.empty() || name.starts_with("gemm_dnnl/stored_");
  if (want_stored && g.alpha == 1.0f && !preferred_is_stored) {
    if (std::optional<DnnlPlan> stored = MakePlan(g, /*as_stored=*/true)) {
      out.push_back(std::make_unique<DnnlGemmTactic>(g, std::move(*stored), true));
    }
  }
  return out;
}

}  // namespace refit::cpu
