// conv_dnnl: oneDNN convolution forward inference. The weights are reordered once, in PackWeight,
// to the layout oneDNN picks for this shape (format_tag::any). `conv_dnnl` keeps src and dst plain
// NCHW (the engine's layout); `conv_dnnl/blocked` lets oneDNN pick their layouts too (its direct
// convolutions want channel-blocked nChw8c / nChw16c, or take a plain src for few input channels)
// and reorders the input into the workspace and the output back to NCHW around the primitive.
// Bias and the fused activation go into the primitive (eltwise post-ops) when oneDNN has them;
// otherwise our epilogue runs afterwards.
//
// Threading: Debian's oneDNN 2.6 is built with the OpenMP runtime (DNNL_CPU_RUNTIME ==
// DNNL_RUNTIME_OMP, libdnnl links libgomp), so it ignores io.pool and forks an OpenMP team from
// the calling thread. Its jit kernels mostly fix their thread count when the primitive
// descriptor is created (here, when the tactic is listed: omp_get_max_threads() of that thread,
// i.e. OMP_NUM_THREADS or every core) and request that many threads at execution, whatever the
// executing thread's OpenMP setting. So conv_dnnl's parallelism does not follow io.pool; a builder
// that wants N threads must set OpenMP's thread count before listing tactics. libgomp's idle
// workers spin for a while after each region (OMP_WAIT_POLICY), which can steal time from the
// next layer's pool threads.
//
// Concurrency: the primitive is created once, in Instantiate, with a user-managed scratchpad that
// lives in the kernel's workspace. oneDNN documents primitives in that mode as safe to execute
// concurrently as long as the scratchpads differ, and every Run has its own workspace. (The default
// library-managed scratchpad would tie each primitive to the thread that created it.) Each Run
// creates its memory objects and stream: small heap allocations, no data copies.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_backend.h"

namespace refit::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Appends act as oneDNN post-ops; false when oneDNN has no equivalent.
bool AppendActivation(const ir::FusedActivation& act, dnnl::post_ops* ops) {
  using dnnl::algorithm;
  switch (act.kind) {
    case ir::ActivationKind::kNone:
      return true;
    case ir::ActivationKind::kRelu:
      ops->append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
      return true;
    case ir::ActivationKind::kLeakyRelu:
      ops->append_eltwise(1.0f, algorithm::eltwise_relu, act.alpha, 0.0f);
      return true;
    case ir::ActivationKind::kClip:
      ops->append_eltwise(1.0f, algorithm::eltwise_clip, act.alpha, act.beta);
      return true;
    case ir::ActivationKind::kSigmoid:
      ops->append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f);
      return true;
    case ir::ActivationKind::kSilu:
      ops->append_eltwise(1.0f, algorithm::eltwise_swish, 1.0f, 0.0f);
      return true;
    case ir::ActivationKind::kGelu:
      ops->append_eltwise(1.0f, algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      return true;
    case ir::ActivationKind::kHardSwish:
      ops->append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f);
      return true;
    case ir::ActivationKind::kHardSigmoid:  // oneDNN 2.6 has no hardsigmoid: clip(a * x + b, 0, 1)
      ops->append_eltwise(1.0f, algorithm::eltwise_linear, act.alpha, act.beta);
      ops->append_eltwise(1.0f, algorithm::eltwise_clip, 0.0f, 1.0f);
      return true;
    case ir::ActivationKind::kTanh:
      ops->append_eltwise(1.0f, algorithm::eltwise_tanh, 0.0f, 0.0f);
      return true;
  }
  return false;
}

memory::dims WeightDims(const ConvParams& p) {
  if (p.group == 1) return {p.out_c, p.in_c, p.kernel_h, p.kernel_w};
  return {p.group, p.out_c_per_group(), p.in_c_per_group(), p.kernel_h, p.kernel_w};
}

memory::desc PlainSrc(const ConvParams& p) {
  return memory::desc({p.batch, p.in_c, p.in_h, p.in_w}, Dt::f32, Tag::nchw);
}
memory::desc PlainDst(const ConvParams& p) {
  return memory::desc({p.batch, p.out_c, p.out_h, p.out_w}, Dt::f32, Tag::nchw);
}

// The primitive descriptor, with the activation fused when possible (`fused` says whether);
// `blocked`: src and dst in the layouts oneDNN prefers, else plain NCHW.
dnnl::convolution_forward::primitive_desc MakePrimitiveDesc(const ConvParams& p, bool blocked,
                                                            bool fuse_act, bool* fused) {
  const memory::desc src =
      blocked ? memory::desc({p.batch, p.in_c, p.in_h, p.in_w}, Dt::f32, Tag::any) : PlainSrc(p);
  const memory::desc wei(WeightDims(p), Dt::f32, Tag::any);
  const memory::desc dst =
      blocked ? memory::desc({p.batch, p.out_c, p.out_h, p.out_w}, Dt::f32, Tag::any) : PlainDst(p);
  const memory::dims strides = {p.stride_h, p.stride_w};
  const memory::dims dilates = {p.dilation_h - 1, p.dilation_w - 1};
  const memory::dims pad_l = {p.pad_top, p.pad_left}, pad_r = {p.pad_bottom, p.pad_right};
  const auto prop = dnnl::prop_kind::forward_inference;
  const auto alg = dnnl::algorithm::convolution_direct;
  const dnnl::convolution_forward::desc desc =
      p.has_bias ? dnnl::convolution_forward::desc(prop, alg, src, wei,
                                                   memory::desc({p.out_c}, Dt::f32, Tag::a), dst,
                                                   strides, dilates, pad_l, pad_r)
                 : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, strides, dilates,
                                                   pad_l, pad_r);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  *fused = fuse_act && AppendActivation(p.act, &ops);
  if (*fused) attr.set_post_ops(ops);
  return dnnl::convolution_forward::primitive_desc(desc, attr, CpuEngine());
}

size_t Align64(size_t n) { return (n + 63) / 64 * 64; }

class ConvDnnlKernel : public backend::Kernel {
 public:
  // The workspace: the primitive's scratchpad, then (blocked layouts only) the reordered input
  // and the output before its reorder to NCHW.
  ConvDnnlKernel(const ConvParams& p, const dnnl::convolution_forward::primitive_desc& pd,
                 bool fused)
      : p_(p),
        pd_(pd),
        primitive_(pd),
        fused_(fused),
        reorder_src_(pd.src_desc() != PlainSrc(p)),
        reorder_dst_(pd.dst_desc() != PlainDst(p)) {
    const dnnl::engine& eng = CpuEngine();
    if (reorder_src_)
      src_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, PlainSrc(p), eng, pd.src_desc()));
    if (reorder_dst_)
      dst_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, pd.dst_desc(), eng, PlainDst(p)));
    src_offset_ = Align64(pd.scratchpad_desc().get_size());
    dst_offset_ = src_offset_ + (reorder_src_ ? Align64(pd.src_desc().get_size()) : 0);
    workspace_ = dst_offset_ + (reorder_dst_ ? Align64(pd.dst_desc().get_size()) : 0);
  }

  size_t workspace_bytes() const override { return workspace_; }

  Status Run(const backend::KernelIo& io) const override {
    SetOpenMpThreads(1);  // see cpu_backend.h: external libraries run single-threaded
    try {
      const dnnl::engine& eng = CpuEngine();
      auto in = [](const Tensor* t) { return const_cast<float*>(t->data_as<float>()); };
      float* y = io.outputs[0]->mutable_data_as<float>();
      char* ws = static_cast<char*>(io.workspace);
      const Tensor* bias = io.inputs.size() > 2 ? io.inputs[2] : nullptr;
      dnnl::stream stream(eng);
      memory x(PlainSrc(p_), eng, in(io.inputs[0]));
      memory src = x;
      if (reorder_src_) {
        src = memory(pd_.src_desc(), eng, ws + src_offset_);
        src_reorder_.execute(stream, x, src);
      }
      memory out(PlainDst(p_), eng, y);
      memory dst = reorder_dst_ ? memory(pd_.dst_desc(), eng, ws + dst_offset_) : out;
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, src},
          {DNNL_ARG_WEIGHTS, memory(pd_.weights_desc(), eng, in(io.inputs[1]))},
          {DNNL_ARG_DST, dst},
          {DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), eng, ws)}};
      if (p_.has_bias) args.emplace(DNNL_ARG_BIAS, memory(pd_.bias_desc(), eng, in(bias)));
      primitive_.execute(stream, args);
      if (reorder_dst_) dst_reorder_.execute(stream, dst, out);
      stream.wait();
      if (!fused_) {
        BiasActivation(p_.act, nullptr, y, p_.batch * p_.out_c, p_.out_size(), p_.out_size(),
                       io.pool);
      }
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: oneDNN failed: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  ConvParams p_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward primitive_;
  bool fused_;
  bool reorder_src_, reorder_dst_;
  dnnl::reorder src_reorder_, dst_reorder_;
  size_t src_offset_ = 0, dst_offset_ = 0, workspace_ = 0;
};

class ConvDnnlTactic : public backend::Tactic {
 public:
  ConvDnnlTactic(const ConvParams& p, const dnnl::convolution_forward::primitive_desc& pd,
                 bool fused, bool blocked)
      : p_(p), pd_(pd), fused_(fused), blocked_(blocked) {}
  std::string name() const override { return blocked_ ? "conv_dnnl/blocked" : "conv_dnnl"; }

  bool KeepsWeightLayout(size_t input) const override { return input != 1; }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    const size_t bytes = pd_.weights_desc().get_size();
    return backend::TensorDesc{DataType::kF32, Shape{int64_t((bytes + sizeof(float) - 1) / 4)}};
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    try {
      const memory::desc& want = pd_.weights_desc();
      const memory::desc plain(WeightDims(p_), Dt::f32, p_.group == 1 ? Tag::oihw : Tag::goihw);
      const size_t bytes = want.get_size();
      REFIT_ASSIGN_OR_RETURN(
          Tensor packed,
          Tensor::Create(DataType::kF32, Shape{int64_t((bytes + sizeof(float) - 1) / 4)}));
      const dnnl::engine& eng = CpuEngine();
      memory src(plain, eng, const_cast<void*>(value.data()));
      memory dst(want, eng, packed.mutable_data());
      // Refit packs slots on its own threads: an OpenMP team per reorder would fight them.
      SetOpenMpThreads(1);
      dnnl::stream stream(eng);
      dnnl::reorder(src, dst).execute(stream, src, dst);
      stream.wait();
      return packed;
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: weight reorder failed: ") + e.what());
    }
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    try {
      return std::unique_ptr<backend::Kernel>(new ConvDnnlKernel(p_, pd_, fused_));
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: cannot create the primitive: ") + e.what());
    }
  }

 private:
  ConvParams p_;
  dnnl::convolution_forward::primitive_desc pd_;
  bool fused_;
  bool blocked_;
};

}  // namespace

void AddConvDnnlTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out) {
  for (bool blocked : {false, true}) {
    bool fused = false;
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    for (bool fuse_act : {true, false}) {
      try {
        pd = MakePrimitiveDesc(p, blocked, fuse_act, &fused);
        break;
      } catch (const dnnl::error&) {
        // No implementation with these post-ops (or at all): try plain, then give up.
      }
    }
    if (!pd.has_value()) continue;
    // The blocked variant only when oneDNN chose another layout than plain NCHW for src or dst.
    if (blocked && pd->src_desc() == PlainSrc(p) && pd->dst_desc() == PlainDst(p)) continue;
    // Its reorders run concurrently from several contexts: only when they need no scratchpad.
    if (blocked) {
      try {
        const dnnl::engine& eng = CpuEngine();
        const dnnl::reorder::primitive_desc in(eng, PlainSrc(p), eng, pd->src_desc());
        const dnnl::reorder::primitive_desc back(eng, pd->dst_desc(), eng, PlainDst(p));
        if (in.scratchpad_desc().get_size() != 0 || back.scratchpad_desc().get_size() != 0) {
          continue;
        }
      } catch (const dnnl::error&) {
        continue;
      }
    }
    out->push_back(std::make_unique<ConvDnnlTactic>(p, *pd, fused, blocked));
  }
}

}  // namespace refit::cpu
