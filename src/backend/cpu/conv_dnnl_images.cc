// conv_dnnl, conv_dnnl/blocked and conv_dnnl/blocked_n2, _n4, _n8: one oneDNN convolution
// primitive, created for batch / parts images, run over `parts` parts of whole images as chunks on
// io.pool (one part: the unsplit variants), with one copy of the weights. Each part reorders its
// own images in (blocked layouts), convolves them and reorders them back out, so a thread keeps
// its images in its own cache from the first reorder to the last, where the output-channel splits
// (conv_dnnl_split.cc) reorder the whole input on one thread and then read all of it from every
// thread. See conv_dnnl.cc for the layouts, threading and concurrency.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/dnnl_layout.h"

#include "backend/cpu/conv_dnnl_internal.h"

namespace refit::cpu::conv_dnnl {
namespace {

using dnnl::memory;
using Dt = memory::data_type;

ConvParams ImageParams(const ConvParams& p, int64_t images) {
  ConvParams q = p;
  q.batch = images;
  return q;
}

class ConvDnnlKernel : public backend::Kernel {
 public:
  // The workspace, per part: the primitive's scratchpad, then (blocked layouts only) the part's
  // reordered input and its output before the reorder to NCHW.
  // in_blocked / out_blocked: the input / output is already in the primitive's (blocked) layout.
  ConvDnnlKernel(const ConvParams& p, int parts,
                 const dnnl::convolution_forward::primitive_desc& pd, bool fused, bool in_blocked,
                 bool out_blocked)
      : p_(p),
        part_(ImageParams(p, p.batch / parts)),
        parts_(parts),
        pd_(pd),
        fused_(fused),
        in_blocked_(in_blocked),
        out_blocked_(out_blocked) {
    const dnnl::engine& eng = CpuEngine();
    primitive_ = dnnl::convolution_forward(pd_);
    reorder_src_ = !in_blocked_ && pd_.src_desc() != PlainSrc(part_);
    reorder_dst_ = !out_blocked_ && pd_.dst_desc() != PlainDst(part_);
    if (reorder_src_) {
      src_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, PlainSrc(part_), eng, pd_.src_desc()));
    }
    if (reorder_dst_) {
      dst_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, pd_.dst_desc(), eng, PlainDst(part_)));
    }
    src_offset_ = Align64(pd_.scratchpad_desc().get_size());
    dst_offset_ = src_offset_ + (reorder_src_ ? Align64(pd_.src_desc().get_size()) : 0);
    part_bytes_ = dst_offset_ + (reorder_dst_ ? Align64(pd_.dst_desc().get_size()) : 0);
  }

  size_t workspace_bytes() const override { return part_bytes_ * size_t(parts_); }

  Status Run(const backend::KernelIo& io) const override {
    const dnnl::engine& eng = CpuEngine();
    auto in = [](const Tensor* t) { return const_cast<float*>(t->data_as<float>()); };
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    float* w = in(io.inputs[1]);
    float* bias = p_.has_bias ? in(io.inputs[2]) : nullptr;
    char* ws = static_cast<char*>(io.workspace);
    const int64_t in_floats = part_.batch * p_.in_c * p_.in_h * p_.in_w;
    const int64_t out_floats = part_.batch * p_.out_c * p_.out_size();
    std::string error;  // the first failure, under error_mu
    std::mutex error_mu;
    ParallelFor(io.pool, parts_, [&](int64_t b, int64_t e) {
      // See cpu_backend.h: oneDNN runs single-threaded, set on whichever thread runs this part
      // (OpenMP's count is per thread). Every oneDNN call of this kernel is in here.
      SetOpenMpThreads(1);
      try {
        dnnl::stream stream(eng);
        for (int64_t i = b; i < e; ++i) {
          char* part_ws = ws + size_t(i) * part_bytes_;
          float* x_ptr = const_cast<float*>(x + i * in_floats);
          memory x_part(in_blocked_ ? pd_.src_desc() : PlainSrc(part_), eng, x_ptr);
          memory src = x_part;
          if (reorder_src_) {
            src = memory(pd_.src_desc(), eng, part_ws + src_offset_);
            src_reorder_.execute(stream, x_part, src);
          }
          float* y_part = y + i * out_floats;
          memory out(out_blocked_ ? pd_.dst_desc() : PlainDst(part_), eng, y_part);
          memory dst = reorder_dst_ ? memory(pd_.dst_desc(), eng, part_ws + dst_offset_) : out;
          std::unordered_map<int, memory> args = {
              {DNNL_ARG_SRC, src},
              {DNNL_ARG_WEIGHTS, memory(pd_.weights_desc(), eng, w)},
              {DNNL_ARG_DST, dst},
              {DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), eng, part_ws)}};
          if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, memory(pd_.bias_desc(), eng, bias));
          primitive_.execute(stream, args);
          if (reorder_dst_) dst_reorder_.execute(stream, dst, out);
          stream.wait();
          if (!fused_ && parts_ > 1) {
            BiasActivationSerial(p_.act, nullptr, y_part, part_.batch * p_.out_c, p_.out_size(),
                                 p_.out_size());
          }
        }
      } catch (const dnnl::error& err) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error.empty()) error = err.what();
      }
    });
    if (!error.empty()) return Internal("conv_dnnl: oneDNN failed: " + error);
    // One part ran on the calling thread alone: the activation oneDNN could not fuse goes over
    // the pool.
    if (!fused_ && parts_ == 1) {
      BiasActivation(p_.act, nullptr, y, p_.batch * p_.out_c, p_.out_size(), p_.out_size(),
                     io.pool);
    }
    return Status::Ok();
  }

 private:
  ConvParams p_, part_;
  int parts_;
  dnnl::convolution_forward::primitive_desc pd_;
  bool fused_, in_blocked_, out_blocked_;
  dnnl::convolution_forward primitive_;
  bool reorder_src_ = false, reorder_dst_ = false;
  dnnl::reorder src_reorder_, dst_reorder_;
  size_t src_offset_ = 0, dst_offset_ = 0, part_bytes_ = 0;
};

class ConvDnnlTactic : public ConvDnnlTacticBase {
 public:
  ConvDnnlTactic(const ConvParams& p, bool blocked, int parts,
                 dnnl::convolution_forward::primitive_desc pd, bool fused, int in_block,
                 int out_block)
      : ConvDnnlTacticBase(p),
        blocked_(blocked),
        parts_(parts),
        pd_(std::move(pd)),
        fused_(fused),
        in_block_(in_block),
        out_block_(out_block) {
    PointwisePacker packer;
    if (packer.Add(p_, pd_.weights_desc(), 0, 0)) packer_ = std::move(packer);
  }
  std::string name() const override {
    const std::string io = BlockedIoSuffix(in_block_, out_block_);
    if (parts_ > 1) return "conv_dnnl/blocked_n" + std::to_string(parts_) + io;
    return (blocked_ ? "conv_dnnl/blocked" : "conv_dnnl") + io;
  }
  int InputBlock() const override { return in_block_; }
  int OutputBlock() const override { return out_block_; }

 private:
  int64_t PackedFloats() const override {
    return int64_t((pd_.weights_desc().get_size() + sizeof(float) - 1) / sizeof(float));
  }

  void Reorder(const float* w, Tensor* packed) const override {
    const dnnl::engine& eng = CpuEngine();
    dnnl::stream stream(eng);
    const memory::desc plain(WeightDims(p_), Dt::f32,
                             p_.group == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    memory src(plain, eng, const_cast<float*>(w));
    memory dst(pd_.weights_desc(), eng, packed->mutable_data());
    dnnl::reorder(src, dst).execute(stream, src, dst);
    stream.wait();
  }

  std::unique_ptr<backend::Kernel> NewKernel() const override {
    return std::make_unique<ConvDnnlKernel>(p_, parts_, pd_, fused_, in_block_ > 0, out_block_ > 0);
  }

  bool blocked_;
  int parts_;
  dnnl::convolution_forward::primitive_desc pd_;
  bool fused_;
  int in_block_, out_block_;
};

}  // namespace

std::optional<dnnl::convolution_forward::primitive_desc> FusedIfPossible(const ConvParams& p,
                                                                         bool blocked, bool* fused,
                                                                         int in_block,
                                                                         int out_block) {
  for (bool fuse_act : {true, false}) {
    try {
      return MakePrimitiveDesc(p, blocked, fuse_act, fused, in_block, out_block);
    } catch (const dnnl::error&) {
      // No implementation with these post-ops (or at all): try without, then give up.
    }
  }
  return std::nullopt;
}

bool ReordersNeedNoScratchpad(const memory::desc& plain_src, const memory::desc& src,
                              const memory::desc& dst, const memory::desc& plain_dst) {
  const dnnl::engine& eng = CpuEngine();
  if (src != plain_src &&
      dnnl::reorder::primitive_desc(eng, plain_src, eng, src).scratchpad_desc().get_size() != 0) {
    return false;
  }
  return dst == plain_dst ||
         dnnl::reorder::primitive_desc(eng, dst, eng, plain_dst).scratchpad_desc().get_size() == 0;
}

bool IsReferenceImpl(const dnnl::convolution_forward::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

memory::desc BlockedActivation(const memory::dims& nchw, int block) {
  return memory::desc(nchw, Dt::f32,
                      block == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c);
}

std::unique_ptr<backend::Tactic> MakeConvDnnlTactic(const ConvParams& p, bool blocked, int parts,
                                                    int in_block, int out_block) {
  if (parts < 1 || p.batch % parts != 0 || (parts > 1 && !blocked)) return nullptr;
  if (!blocked && (in_block > 0 || out_block > 0)) return nullptr;
  const ConvParams part = ImageParams(p, p.batch / parts);
  try {
    bool fused = false;
    std::optional<dnnl::convolution_forward::primitive_desc> pd =
        FusedIfPossible(part, blocked, &fused, in_block, out_block);
    if (!pd.has_value()) return nullptr;
    if (blocked) {
      // Only when oneDNN chose another layout than plain NCHW for src or dst, and only with
      // reorders that need no scratchpad (they run concurrently, from several contexts).
      if (pd->src_desc() == PlainSrc(part) && pd->dst_desc() == PlainDst(part)) return nullptr;
      // A blocked input or output is used as it is, by one of oneDNN's optimised kernels (not a
      // reference implementation, which it falls back to for some layout pairs).
      if ((in_block > 0 || out_block > 0) && IsReferenceImpl(*pd)) return nullptr;
      if (in_block > 0 &&
          pd->src_desc() !=
              BlockedActivation({part.batch, part.in_c, part.in_h, part.in_w}, in_block)) {
        return nullptr;
      }
      if (out_block > 0 &&
          pd->dst_desc() !=
              BlockedActivation({part.batch, part.out_c, part.out_h, part.out_w}, out_block)) {
        return nullptr;
      }
      if (!ReordersNeedNoScratchpad(in_block > 0 ? pd->src_desc() : PlainSrc(part), pd->src_desc(),
                                    pd->dst_desc(),
                                    out_block > 0 ? pd->dst_desc() : PlainDst(part))) {
        return nullptr;
      }
    }
    return std::make_unique<ConvDnnlTactic>(p, blocked, parts, *pd, fused, in_block, out_block);
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

}  // namespace refit::cpu::conv_dnnl
