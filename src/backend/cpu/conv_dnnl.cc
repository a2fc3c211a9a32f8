// conv_dnnl: oneDNN convolution forward inference. src and dst stay plain NCHW (the engine's
// layout); the weights are reordered once, in PackWeight, to the layout oneDNN picks for this shape
// (format_tag::any). Bias and the fused activation go into the primitive (eltwise post-ops) when
// oneDNN has them; otherwise our epilogue runs afterwards.
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

// The primitive descriptor, with the activation fused when possible (`fused` says whether).
dnnl::convolution_forward::primitive_desc MakePrimitiveDesc(const ConvParams& p, bool fuse_act,
                                                            bool* fused) {
  const memory::desc src({p.batch, p.in_c, p.in_h, p.in_w}, Dt::f32, Tag::nchw);
  const memory::desc wei(WeightDims(p), Dt::f32, Tag::any);
  const memory::desc dst({p.batch, p.out_c, p.out_h, p.out_w}, Dt::f32, Tag::nchw);
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

class ConvDnnlKernel : public backend::Kernel {
 public:
  ConvDnnlKernel(const ConvParams& p, const dnnl::convolution_forward::primitive_desc& pd,
                 bool fused)
      : p_(p), pd_(pd), primitive_(pd), fused_(fused) {}

  size_t workspace_bytes() const override { return pd_.scratchpad_desc().get_size(); }

  Status Run(const backend::KernelIo& io) const override {
    SetOpenMpThreads(1);  // see cpu_backend.h: external libraries run single-threaded
    try {
      const dnnl::engine& eng = CpuEngine();
      auto in = [](const Tensor* t) { return const_cast<float*>(t->data_as<float>()); };
      float* y = io.outputs[0]->mutable_data_as<float>();
      const Tensor* bias = io.inputs.size() > 2 ? io.inputs[2] : nullptr;
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, memory(pd_.src_desc(), eng, in(io.inputs[0]))},
          {DNNL_ARG_WEIGHTS, memory(pd_.weights_desc(), eng, in(io.inputs[1]))},
          {DNNL_ARG_DST, memory(pd_.dst_desc(), eng, y)},
          {DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), eng, io.workspace)}};
      if (p_.has_bias) args.emplace(DNNL_ARG_BIAS, memory(pd_.bias_desc(), eng, in(bias)));
      dnnl::stream stream(eng);
      primitive_.execute(stream, args);
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
};

class ConvDnnlTactic : public backend::Tactic {
 public:
  ConvDnnlTactic(const ConvParams& p, const dnnl::convolution_forward::primitive_desc& pd,
                 bool fused)
      : p_(p), pd_(pd), fused_(fused) {}
  std::string name() const override { return "conv_dnnl"; }

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
};

}  // namespace

void AddConvDnnlTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out) {
  bool fused = false;
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  for (bool fuse_act : {true, false}) {
    try {
      pd = MakePrimitiveDesc(p, fuse_act, &fused);
      break;
    } catch (const dnnl::error&) {
      // No implementation with these post-ops (or at all): try plain, then give up.
    }
  }
  if (pd.has_value()) out->push_back(std::make_unique<ConvDnnlTactic>(p, *pd, fused));
}

}  // namespace refit::cpu
