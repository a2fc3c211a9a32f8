// conv_dnnl: oneDNN convolution forward inference. The weights are reordered once, in PackWeight,
// to the layout oneDNN picks for this shape (format_tag::any). `conv_dnnl` keeps src and dst plain
// NCHW (the engine's layout); `conv_dnnl/blocked` lets oneDNN pick their layouts too (its direct
// convolutions want channel-blocked nChw8c / nChw16c, or take a plain src for few input channels)
// and reorders the input into the workspace and the output back to NCHW around the primitive.
// `conv_dnnl/blocked_oc2` and `_oc4` (conv_dnnl_split.cc) split the blocked variant's output
// channels into 2 or 4 parts, each its own primitive (its own slice of the weights, packed one
// after another, and of the bias), run as chunks on io.pool: the parallelism oneDNN's OpenMP
// runtime cannot give us (see Threading). Each part reorders its own output slice back to NCHW.
// `conv_dnnl/blocked_n2`, `_n4` and `_n8` split the batch instead: each part runs one primitive
// over its own whole images. The kernel and tactic of every variant but the output-channel splits
// are in conv_dnnl_images.cc (the unsplit ones are one part of the batch).
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
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dnnl_layout.h"

#include "backend/cpu/conv_dnnl_internal.h"

namespace refit::cpu {
namespace conv_dnnl {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

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

dnnl::convolution_forward::primitive_desc MakePrimitiveDesc(const ConvParams& p, bool blocked,
                                                            bool fuse_act, bool* fused,
                                                            int in_block, int out_block) {
  const memory::dims src_dims = {p.batch, p.in_c, p.in_h, p.in_w};
  const memory::dims dst_dims = {p.batch, p.out_c, p.out_h, p.out_w};
  // With a blocked input or output, both sides take that block where their channels allow (the
  // kernel reorders the plain side): oneDNN has no fast convolution between a blocked side and
  // one of its own choosing.
  const int block = std::max(in_block, out_block);
  const bool src_blocked = in_block > 0 || (block > 0 && p.in_c % block == 0);
  const bool dst_blocked = out_block > 0 || (block > 0 && p.out_c % block == 0);
  const memory::desc src = src_blocked ? BlockedActivation(src_dims, block)
                           : blocked   ? memory::desc(src_dims, Dt::f32, Tag::any)
                                       : PlainSrc(p);
  const memory::desc wei(WeightDims(p), Dt::f32, Tag::any);
  const memory::desc dst = dst_blocked ? BlockedActivation(dst_dims, block)
                           : blocked   ? memory::desc(dst_dims, Dt::f32, Tag::any)
                                       : PlainDst(p);
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

bool PointwisePacker::Add(const ConvParams& p, const memory::desc& md, int64_t begin,
                          size_t offset) {
  if (p.group != 1 || p.kernel_h != 1 || p.kernel_w != 1 || offset % sizeof(float) != 0) {
    return false;
  }
  const std::optional<BlockedLayout2D> layout = BlockedLayoutOf(md);
  if (!layout) return false;
  parts_.push_back(Part{*layout, begin, offset});
  return true;
}

StatusOr<Tensor> PointwisePacker::Pack(const ConvParams& p, const Tensor& value, int64_t floats,
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

StatusOr<backend::TensorDesc> ConvDnnlTacticBase::PackedType(
    size_t input, const backend::TensorDesc& value) const {
  if (input != 1) return value;
  return backend::TensorDesc{DataType::kF32, Shape{PackedFloats()}};
}

StatusOr<Tensor> ConvDnnlTacticBase::PackWeight(size_t input, const Tensor& value) const {
  if (input != 1) return Tactic::PackWeight(input, value);
  if (packer_) return packer_->Pack(p_, value, PackedFloats(), nullptr, /*checked=*/false);
  const int64_t elements = p_.out_c * p_.in_c_per_group() * p_.kernel_size();
  if (value.dtype() != DataType::kF32 || value.NumElements() != elements) {
    return InvalidArgument("conv_dnnl: weight of " + value.shape().ToString() +
                           ", expected OIHW f32 with " + std::to_string(elements) + " elements");
  }
  REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Create(DataType::kF32, Shape{PackedFloats()}));
  try {
    SetOpenMpThreads(1);  // refit packs slots on its own threads: no OpenMP team per reorder
    Reorder(value.data_as<float>(), &packed);
  } catch (const dnnl::error& e) {
    return Internal(std::string("conv_dnnl: weight reorder failed: ") + e.what());
  }
  return packed;
}

StatusOr<Tensor> ConvDnnlTacticBase::PackWeightChecked(size_t input, const Tensor& value) const {
  if (!PacksChecked(input)) return Tactic::PackWeightChecked(input, value);
  return packer_->Pack(p_, value, PackedFloats(), nullptr, /*checked=*/true);
}

StatusOr<Tensor> ConvDnnlTacticBase::PackWeightScaledRows(size_t input, const Tensor& value,
                                                          const float* row_scale) const {
  if (!PacksScaledRows(input)) return Tactic::PackWeightScaledRows(input, value, row_scale);
  return packer_->Pack(p_, value, PackedFloats(), row_scale, /*checked=*/true);
}

StatusOr<std::unique_ptr<backend::Kernel>> ConvDnnlTacticBase::Instantiate() const {
  try {
    return NewKernel();
  } catch (const dnnl::error& e) {
    return Internal(name() + ": cannot create the oneDNN primitives: " + e.what());
  }
}

}  // namespace conv_dnnl

void AddConvDnnlTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                        std::string_view name) {
  // An engine load asks for one variant by name: the others' primitive descriptors (oneDNN
  // dispatch, sometimes JIT code) are not created.
  const auto wanted = [&](std::string_view variant) { return name.empty() || name == variant; };
  for (bool blocked : {false, true}) {
    if (!wanted(blocked ? "conv_dnnl/blocked" : "conv_dnnl")) continue;
    if (std::unique_ptr<backend::Tactic> t =
            conv_dnnl::MakeConvDnnlTactic(p, blocked, /*parts=*/1)) {
      out->push_back(std::move(t));
    }
  }
  // The blocked variant reading and writing channel-blocked activations as they are.
  for (const auto& [in_block, out_block] : BlockedIoPairs(p)) {
    if (!wanted("conv_dnnl/blocked" + BlockedIoSuffix(in_block, out_block))) continue;
    if (std::unique_ptr<backend::Tactic> t =
            conv_dnnl::MakeConvDnnlTactic(p, /*blocked=*/true, /*parts=*/1, in_block, out_block)) {
      out->push_back(std::move(t));
    }
  }
  // Splits only where a part still has work enough to pay for a fork: 2^20 multiply-adds in all
  // (about 0.1 ms on one core).
  const double macs = double(p.batch) * double(p.out_c) * double(p.out_size()) *
                      double(p.in_c_per_group()) * double(p.kernel_size());
  if (macs < double(1 << 20)) return;
  std::vector<std::pair<int, int>> io = BlockedIoPairs(p);
  io.insert(io.begin(), {0, 0});
  for (int parts : {2, 4}) {
    for (const auto& [in_block, out_block] : io) {
      const std::string variant =
          "conv_dnnl/blocked_oc" + std::to_string(parts) + BlockedIoSuffix(in_block, out_block);
      if (!wanted(variant)) continue;
      if (std::unique_ptr<backend::Tactic> split =
              conv_dnnl::MakeSplitTactic(p, parts, in_block, out_block)) {
        out->push_back(std::move(split));
      }
    }
  }
  for (int parts : {2, 4, 8}) {
    for (const auto& [in_block, out_block] : io) {
      const std::string variant =
          "conv_dnnl/blocked_n" + std::to_string(parts) + BlockedIoSuffix(in_block, out_block);
      if (parts > p.batch || !wanted(variant)) continue;
      if (std::unique_ptr<backend::Tactic> split =
              conv_dnnl::MakeConvDnnlTactic(p, /*blocked=*/true, parts, in_block, out_block)) {
        out->push_back(std::move(split));
      }
    }
  }
}

}  // namespace refit::cpu
