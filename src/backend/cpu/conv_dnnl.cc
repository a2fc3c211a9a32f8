// conv_dnnl: oneDNN convolution forward inference. The weights are reordered once, in PackWeight,
// to the layout oneDNN picks for this shape (format_tag::any). `conv_dnnl` keeps src and dst plain
// NCHW (the engine's layout); `conv_dnnl/blocked` lets oneDNN pick their layouts too (its direct
// convolutions want channel-blocked nChw8c / nChw16c, or take a plain src for few input channels)
// and reorders the input into the workspace and the output back to NCHW around the primitive.
// `conv_dnnl/blocked_oc2` and `_oc4` split the blocked variant's output channels into 2 or 4
// parts, each its own primitive (its own slice of the weights, packed one after another, and of
// the bias), run as chunks on io.pool: the parallelism oneDNN's OpenMP runtime cannot give us
// (see Threading). Each part reorders its own output slice back to NCHW.
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
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dnnl_layout.h"

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

// Our one-pass packer (blocked_pack.h) for an ungrouped 1x1 convolution's weights, one slice of
// output channels per primitive: a copy (plain layouts) or a blocked transpose, the values checked
// and a BatchNorm's per-channel factors applied on the way, where oneDNN's reorder needs a folded
// copy first and a zeroed buffer.
class PointwisePacker {
 public:
  // Output channels [begin, begin + count) go to `md` at byte `offset` of the packed weights.
  // False when our packer cannot write `md`; the packer must then not be used.
  bool Add(const ConvParams& p, const memory::desc& md, int64_t begin, size_t offset) {
    if (p.group != 1 || p.kernel_h != 1 || p.kernel_w != 1 || offset % sizeof(float) != 0) {
      return false;
    }
    const std::optional<BlockedLayout2D> layout = BlockedLayoutOf(md);
    if (!layout) return false;
    parts_.push_back(Part{*layout, begin, offset});
    return true;
  }

  // `value`: the OIHW weights; row_scale: null or out_c factors. `floats`: the packed size.
  StatusOr<Tensor> Pack(const ConvParams& p, const Tensor& value, int64_t floats,
                        const float* row_scale, bool checked) const {
    if (value.dtype() != DataType::kF32 || value.NumElements() != p.out_c * p.in_c) {
      return InvalidArgument("conv_dnnl: weight of " + std::string(DataTypeName(value.dtype())) +
                             " " + value.shape().ToString() + ", expected f32 [" +
                             std::to_string(p.out_c) + ", " + std::to_string(p.in_c) + ", 1, 1]");
    }
    REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Uninitialized(DataType::kF32, Shape{floats}));
    char* base = static_cast<char*>(packed.mutable_data());
    // Zeros wherever a part does not write every float: gaps, tails, non-dense layouts.
    size_t end = 0;
    for (const Part& part : parts_) {
      const size_t bytes = size_t(part.layout.floats) * sizeof(float);
      std::memset(base + end, 0, part.offset - end);
      if (!part.layout.Dense()) std::memset(base + part.offset, 0, bytes);
      end = part.offset + bytes;
    }
    std::memset(base + end, 0, size_t(floats) * sizeof(float) - end);
    bool finite = true;
    for (const Part& part : parts_) {
      finite = PackBlocked2D(part.layout, value.data_as<float>() + part.begin * p.in_c, p.in_c, 1,
                             1.0f, reinterpret_cast<float*>(base + part.offset),
                             row_scale != nullptr ? row_scale + part.begin : nullptr) &&
               finite;
    }
    if (checked && !finite) {
      return InvalidArgument(row_scale != nullptr
                                 ? "conv_dnnl: a weight times its BatchNorm factor is not finite"
                                 : "conv_dnnl: a weight value is not finite");
    }
    return packed;
  }

 private:
  struct Part {
    BlockedLayout2D layout;
    int64_t begin = 0;
    size_t offset = 0;  // bytes, increasing from part to part
  };
  std::vector<Part> parts_;
};

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
      : p_(p), pd_(pd), fused_(fused), blocked_(blocked) {
    PointwisePacker packer;
    if (packer.Add(p_, pd_.weights_desc(), 0, 0)) packer_ = std::move(packer);
  }
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
    if (packer_) return packer_->Pack(p_, value, PackedFloats(), nullptr, /*checked=*/false);
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

  // With our packer: values checked and BatchNorm factors applied as the weights are packed.
  bool PacksChecked(size_t input) const override { return input == 1 && packer_.has_value(); }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override {
    if (!PacksChecked(input)) return Tactic::PackWeightChecked(input, value);
    return packer_->Pack(p_, value, PackedFloats(), nullptr, /*checked=*/true);
  }
  bool PacksScaledRows(size_t input) const override { return PacksChecked(input); }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override {
    if (!PacksScaledRows(input)) return Tactic::PackWeightScaledRows(input, value, row_scale);
    return packer_->Pack(p_, value, PackedFloats(), row_scale, /*checked=*/true);
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    try {
      return std::unique_ptr<backend::Kernel>(new ConvDnnlKernel(p_, pd_, fused_));
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: cannot create the primitive: ") + e.what());
    }
  }

 private:
  int64_t PackedFloats() const {
    return int64_t((pd_.weights_desc().get_size() + sizeof(float) - 1) / sizeof(float));
  }

  ConvParams p_;
  dnnl::convolution_forward::primitive_desc pd_;
  std::optional<PointwisePacker> packer_;  // for 1x1 weights in a layout our packer writes
  bool fused_;
  bool blocked_;
};

// One slice of output channels of a split convolution: channels [begin, begin + count).
struct DnnlPart {
  int64_t begin = 0, count = 0;
  dnnl::convolution_forward::primitive_desc pd;
  size_t weight_offset = 0;  // bytes into the packed weights, 64-aligned
};

ConvParams PartParams(const ConvParams& p, int64_t count) {
  ConvParams q = p;
  q.out_c = count;
  return q;
}

// The NCHW slice of `p`'s output that holds channels [begin, begin + count): strided, in place.
memory::desc PlainDstSlice(const ConvParams& p, int64_t count) {
  return memory::desc({p.batch, count, p.out_h, p.out_w}, Dt::f32,
                      memory::dims{p.out_c * p.out_size(), p.out_size(), p.out_w, 1});
}

// Weights of output channels [begin, begin + count) in the model's OIHW layout.
memory::desc PlainWeightSlice(const ConvParams& p, int64_t count) {
  const int64_t per_oc = p.in_c * p.kernel_size();
  return memory::desc({count, p.in_c, p.kernel_h, p.kernel_w}, Dt::f32,
                      memory::dims{per_oc, p.kernel_size(), p.kernel_w, 1});
}

class ConvDnnlSplitKernel : public backend::Kernel {
 public:
  // The workspace: the reordered input (shared), then per part its scratchpad and its output
  // before the reorder into its NCHW slice.
  ConvDnnlSplitKernel(const ConvParams& p, const std::vector<DnnlPart>& parts, bool fused)
      : p_(p), parts_(parts), fused_(fused) {
    const dnnl::engine& eng = CpuEngine();
    const memory::desc& src_md = parts_[0].pd.src_desc();
    reorder_src_ = src_md != PlainSrc(p);
    if (reorder_src_) {
      src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, PlainSrc(p), eng, src_md));
    }
    size_t at = reorder_src_ ? Align64(src_md.get_size()) : 0;
    for (const DnnlPart& part : parts_) {
      PartRun r;
      r.primitive = dnnl::convolution_forward(part.pd);
      r.dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, part.pd.dst_desc(), eng,
                                                                  PlainDstSlice(p, part.count)));
      r.scratch_offset = at;
      at += Align64(part.pd.scratchpad_desc().get_size());
      r.dst_offset = at;
      at += Align64(part.pd.dst_desc().get_size());
      runs_.push_back(std::move(r));
    }
    workspace_ = at;
  }

  size_t workspace_bytes() const override { return workspace_; }

  Status Run(const backend::KernelIo& io) const override {
    SetOpenMpThreads(1);  // see cpu_backend.h: external libraries run single-threaded
    const dnnl::engine& eng = CpuEngine();
    auto in = [](const Tensor* t) { return const_cast<float*>(t->data_as<float>()); };
    float* y = io.outputs[0]->mutable_data_as<float>();
    char* ws = static_cast<char*>(io.workspace);
    const char* w = reinterpret_cast<const char*>(io.inputs[1]->data());
    const float* bias =
        io.inputs.size() > 2 && io.inputs[2] != nullptr ? io.inputs[2]->data_as<float>() : nullptr;
    std::string error;  // the first failure, under error_mu
    std::mutex error_mu;
    try {
      memory src(PlainSrc(p_), eng, in(io.inputs[0]));
      if (reorder_src_) {
        dnnl::stream stream(eng);
        memory blocked(parts_[0].pd.src_desc(), eng, ws);
        src_reorder_.execute(stream, src, blocked);
        stream.wait();
        src = blocked;
      }
      ParallelFor(io.pool, int64_t(parts_.size()), [&](int64_t b, int64_t e) {
        try {
          dnnl::stream stream(eng);
          for (int64_t i = b; i < e; ++i) {
            const DnnlPart& part = parts_[size_t(i)];
            const PartRun& r = runs_[size_t(i)];
            memory dst(part.pd.dst_desc(), eng, ws + r.dst_offset);
            std::unordered_map<int, memory> args = {
                {DNNL_ARG_SRC, src},
                {DNNL_ARG_WEIGHTS,
                 memory(part.pd.weights_desc(), eng, const_cast<char*>(w + part.weight_offset))},
                {DNNL_ARG_DST, dst},
                {DNNL_ARG_SCRATCHPAD,
                 memory(part.pd.scratchpad_desc(), eng, ws + r.scratch_offset)}};
            if (bias != nullptr) {
              args.emplace(DNNL_ARG_BIAS,
                           memory(part.pd.bias_desc(), eng, const_cast<float*>(bias + part.begin)));
            }
            r.primitive.execute(stream, args);
            memory out(PlainDstSlice(p_, part.count), eng, y + part.begin * p_.out_size());
            r.dst_reorder.execute(stream, dst, out);
          }
          stream.wait();
        } catch (const dnnl::error& e) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (error.empty()) error = e.what();
        }
      });
    } catch (const dnnl::error& e) {
      error = e.what();
    }
    if (!error.empty()) return Internal("conv_dnnl: oneDNN failed: " + error);
    if (!fused_) {
      BiasActivation(p_.act, nullptr, y, p_.batch * p_.out_c, p_.out_size(), p_.out_size(),
                     io.pool);
    }
    return Status::Ok();
  }

 private:
  struct PartRun {
    dnnl::convolution_forward primitive;
    dnnl::reorder dst_reorder;
    size_t scratch_offset = 0, dst_offset = 0;
  };
  ConvParams p_;
  std::vector<DnnlPart> parts_;
  bool fused_;
  bool reorder_src_ = false;
  dnnl::reorder src_reorder_;
  std::vector<PartRun> runs_;
  size_t workspace_ = 0;
};

class ConvDnnlSplitTactic : public backend::Tactic {
 public:
  ConvDnnlSplitTactic(const ConvParams& p, std::vector<DnnlPart> parts, bool fused)
      : p_(p), parts_(std::move(parts)), fused_(fused) {
    PointwisePacker packer;
    bool ok = true;
    for (const DnnlPart& part : parts_) {
      ok = ok && packer.Add(p_, part.pd.weights_desc(), part.begin, part.weight_offset);
    }
    if (ok) packer_ = std::move(packer);
  }
  std::string name() const override {
    return "conv_dnnl/blocked_oc" + std::to_string(parts_.size());
  }

  bool KeepsWeightLayout(size_t input) const override { return input != 1; }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    return backend::TensorDesc{DataType::kF32, Shape{int64_t(PackedBytes() / sizeof(float))}};
  }

  // Each part's slice of the OIHW weights, reordered into its primitive's layout, one part after
  // another (64-byte aligned; the gaps are zeros).
  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    if (packer_) {
      return packer_->Pack(p_, value, int64_t(PackedBytes() / sizeof(float)), nullptr,
                           /*checked=*/false);
    }
    if (value.dtype() != DataType::kF32 ||
        value.NumElements() != p_.out_c * p_.in_c * p_.kernel_size()) {
      return InvalidArgument("conv_dnnl: weight of " + value.shape().ToString() +
                             ", expected OIHW f32 with " +
                             std::to_string(p_.out_c * p_.in_c * p_.kernel_size()) + " elements");
    }
    REFIT_ASSIGN_OR_RETURN(
        Tensor packed,
        Tensor::Create(DataType::kF32, Shape{int64_t(PackedBytes() / sizeof(float))}));
    try {
      const dnnl::engine& eng = CpuEngine();
      SetOpenMpThreads(1);  // refit packs slots on its own threads
      dnnl::stream stream(eng);
      const float* w = value.data_as<float>();
      for (const DnnlPart& part : parts_) {
        memory src(PlainWeightSlice(p_, part.count), eng,
                   const_cast<float*>(w + part.begin * p_.in_c * p_.kernel_size()));
        memory dst(part.pd.weights_desc(), eng,
                   static_cast<char*>(packed.mutable_data()) + part.weight_offset);
        dnnl::reorder(src, dst).execute(stream, src, dst);
      }
      stream.wait();
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: weight reorder failed: ") + e.what());
    }
    return packed;
  }

  bool PacksChecked(size_t input) const override { return input == 1 && packer_.has_value(); }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override {
    if (!PacksChecked(input)) return Tactic::PackWeightChecked(input, value);
    return packer_->Pack(p_, value, int64_t(PackedBytes() / sizeof(float)), nullptr,
                         /*checked=*/true);
  }
  bool PacksScaledRows(size_t input) const override { return PacksChecked(input); }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override {
    if (!PacksScaledRows(input)) return Tactic::PackWeightScaledRows(input, value, row_scale);
    return packer_->Pack(p_, value, int64_t(PackedBytes() / sizeof(float)), row_scale,
                         /*checked=*/true);
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    try {
      return std::unique_ptr<backend::Kernel>(new ConvDnnlSplitKernel(p_, parts_, fused_));
    } catch (const dnnl::error& e) {
      return Internal(std::string("conv_dnnl: cannot create the primitives: ") + e.what());
    }
  }

 private:
  size_t PackedBytes() const {
    const DnnlPart& last = parts_.back();
    return Align64(last.weight_offset + last.pd.weights_desc().get_size());
  }

  ConvParams p_;
  std::vector<DnnlPart> parts_;
  std::optional<PointwisePacker> packer_;  // for 1x1 weights in layouts our packer writes
  bool fused_;
};

// The blocked variant split into `n` parts of output channels, when every part's primitive takes
// the same src layout, the activation fuses alike and the reorders need no scratchpad.
std::unique_ptr<backend::Tactic> MakeSplitTactic(const ConvParams& p, int n) {
  if (p.group != 1 || p.out_c % (8 * n) != 0) return nullptr;
  const int64_t count = p.out_c / n;
  std::vector<DnnlPart> parts;
  bool fused_all = false;
  size_t offset = 0;
  try {
    const dnnl::engine& eng = CpuEngine();
    for (int i = 0; i < n; ++i) {
      bool fused = false;
      DnnlPart part;
      part.begin = i * count;
      part.count = count;
      // The activation fused when oneDNN can (as the unsplit variant), alike in every part.
      for (bool fuse_act : {true, false}) {
        try {
          part.pd = MakePrimitiveDesc(PartParams(p, count), /*blocked=*/true, fuse_act, &fused);
          break;
        } catch (const dnnl::error&) {
          if (!fuse_act) return nullptr;
        }
      }
      if (i == 0) {
        fused_all = fused;
      } else if (fused != fused_all || part.pd.src_desc() != parts.front().pd.src_desc()) {
        return nullptr;
      }
      if (part.pd.src_desc() != PlainSrc(p)) {
        if (dnnl::reorder::primitive_desc(eng, PlainSrc(p), eng, part.pd.src_desc())
                .scratchpad_desc()
                .get_size() != 0) {
          return nullptr;
        }
      }
      if (dnnl::reorder::primitive_desc(eng, part.pd.dst_desc(), eng, PlainDstSlice(p, count))
              .scratchpad_desc()
              .get_size() != 0) {
        return nullptr;
      }
      part.weight_offset = offset;
      offset += Align64(part.pd.weights_desc().get_size());
      parts.push_back(std::move(part));
    }
  } catch (const dnnl::error&) {
    return nullptr;
  }
  if (parts.front().pd.dst_desc() == PlainDst(PartParams(p, count))) return nullptr;
  return std::make_unique<ConvDnnlSplitTactic>(p, std::move(parts), fused_all);
}

}  // namespace

void AddConvDnnlTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                        std::string_view name) {
  // An engine load asks for one variant by name: the others' primitive descriptors (oneDNN
  // dispatch, sometimes JIT code) are not created.
  const auto wanted = [&](std::string_view variant) { return name.empty() || name == variant; };
  for (bool blocked : {false, true}) {
    if (!wanted(blocked ? "conv_dnnl/blocked" : "conv_dnnl")) continue;
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
  // Splits only where a part still has work enough to pay for a fork: 2^20 multiply-adds in all
  // (about 0.1 ms on one core).
  const double macs = double(p.batch) * double(p.out_c) * double(p.out_size()) *
                      double(p.in_c_per_group()) * double(p.kernel_size());
  if (macs < double(1 << 20)) return;
  for (int parts : {2, 4}) {
    if (!wanted("conv_dnnl/blocked_oc" + std::to_string(parts))) continue;
    if (std::unique_ptr<backend::Tactic> split = MakeSplitTactic(p, parts)) {
      out->push_back(std::move(split));
    }
  }
}

}  // namespace refit::cpu
