// conv_dnnl/blocked_oc2 and _oc4: the blocked oneDNN convolution with its output channels split
// into 2 or 4 parts, each its own primitive (its own slice of the weights, packed one after
// another, and of the bias), run as chunks on io.pool: the parallelism oneDNN's OpenMP runtime
// cannot give us (conv_dnnl.cc, Threading). Each part reorders its own output slice back to NCHW.
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

#include "backend/cpu/conv_dnnl_internal.h"

namespace refit::cpu::conv_dnnl {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

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
  // in_blocked / out_blocked: the input / output is channel-blocked and used as it is (an
  // output only at batch 1, where a part's channel blocks are one contiguous run).
  ConvDnnlSplitKernel(const ConvParams& p, const std::vector<DnnlPart>& parts, bool fused,
                      bool in_blocked, bool out_blocked)
      : p_(p), parts_(parts), fused_(fused), in_blocked_(in_blocked), out_blocked_(out_blocked) {
    const dnnl::engine& eng = CpuEngine();
    const memory::desc& src_md = parts_[0].pd.src_desc();
    reorder_src_ = !in_blocked_ && src_md != PlainSrc(p);
    if (reorder_src_) {
      src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, PlainSrc(p), eng, src_md));
    }
    size_t at = reorder_src_ ? Align64(src_md.get_size()) : 0;
    for (const DnnlPart& part : parts_) {
      PartRun r;
      r.primitive = dnnl::convolution_forward(part.pd);
      if (!out_blocked_) {
        r.dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, part.pd.dst_desc(), eng,
                                                                    PlainDstSlice(p, part.count)));
      }
      r.scratch_offset = at;
      at += Align64(part.pd.scratchpad_desc().get_size());
      r.dst_offset = at;
      if (!out_blocked_) at += Align64(part.pd.dst_desc().get_size());
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
      memory src(in_blocked_ ? parts_[0].pd.src_desc() : PlainSrc(p_), eng, in(io.inputs[0]));
      if (reorder_src_) {
        dnnl::stream stream(eng);
        memory blocked(parts_[0].pd.src_desc(), eng, ws);
        src_reorder_.execute(stream, src, blocked);
        stream.wait();
        src = blocked;
      }
      ParallelFor(io.pool, int64_t(parts_.size()), [&](int64_t b, int64_t e) {
        SetOpenMpThreads(1);  // on the pool's workers too: the count is per thread
        try {
          dnnl::stream stream(eng);
          for (int64_t i = b; i < e; ++i) {
            const DnnlPart& part = parts_[size_t(i)];
            const PartRun& r = runs_[size_t(i)];
            // A blocked output: the part's channel blocks, in place.
            float* y_part = y + part.begin * p_.out_size();
            memory dst(part.pd.dst_desc(), eng,
                       out_blocked_ ? static_cast<void*>(y_part) : ws + r.dst_offset);
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
            if (!out_blocked_) {
              memory out(PlainDstSlice(p_, part.count), eng, y_part);
              r.dst_reorder.execute(stream, dst, out);
            }
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
  bool fused_, in_blocked_, out_blocked_;
  bool reorder_src_ = false;
  dnnl::reorder src_reorder_;
  std::vector<PartRun> runs_;
  size_t workspace_ = 0;
};

class ConvDnnlSplitTactic : public ConvDnnlTacticBase {
 public:
  ConvDnnlSplitTactic(const ConvParams& p, std::vector<DnnlPart> parts, bool fused, int in_block,
                      int out_block)
      : ConvDnnlTacticBase(p),
        parts_(std::move(parts)),
        fused_(fused),
        in_block_(in_block),
        out_block_(out_block) {
    PointwisePacker packer;
    bool ok = true;
    for (const DnnlPart& part : parts_) {
      ok = ok && packer.Add(p_, part.pd.weights_desc(), part.begin, part.weight_offset);
    }
    if (ok) packer_ = std::move(packer);
  }
  std::string name() const override {
    return "conv_dnnl/blocked_oc" + std::to_string(parts_.size()) +
           BlockedIoSuffix(in_block_, out_block_);
  }
  int InputBlock() const override { return in_block_; }
  int OutputBlock() const override { return out_block_; }

 private:
  // The parts' weights one after another, each 64-byte aligned (the gaps are zeros).
  int64_t PackedFloats() const override {
    const DnnlPart& last = parts_.back();
    return int64_t(Align64(last.weight_offset + last.pd.weights_desc().get_size()) / sizeof(float));
  }

  // Each part's slice of the OIHW weights, reordered into its primitive's layout.
  void Reorder(const float* w, Tensor* packed) const override {
    const dnnl::engine& eng = CpuEngine();
    dnnl::stream stream(eng);
    for (const DnnlPart& part : parts_) {
      memory src(PlainWeightSlice(p_, part.count), eng,
                 const_cast<float*>(w + part.begin * p_.in_c * p_.kernel_size()));
      memory dst(part.pd.weights_desc(), eng,
                 static_cast<char*>(packed->mutable_data()) + part.weight_offset);
      dnnl::reorder(src, dst).execute(stream, src, dst);
    }
    stream.wait();
  }

  std::unique_ptr<backend::Kernel> NewKernel() const override {
    return std::make_unique<ConvDnnlSplitKernel>(p_, parts_, fused_, in_block_ > 0, out_block_ > 0);
  }

  std::vector<DnnlPart> parts_;
  bool fused_;
  int in_block_, out_block_;
};

}  // namespace

std::unique_ptr<backend::Tactic> MakeSplitTactic(const ConvParams& p, int n, int in_block,
                                                 int out_block) {
  if (p.group != 1 || p.out_c % (8 * n) != 0) return nullptr;
  const int64_t count = p.out_c / n;
  // A blocked output slice is contiguous only at batch 1, and only of whole blocks.
  if (out_block > 0 && (p.batch != 1 || count % out_block != 0)) return nullptr;
  std::vector<DnnlPart> parts;
  bool fused_all = false;
  size_t offset = 0;
  try {
    for (int i = 0; i < n; ++i) {
      bool fused = false;
      DnnlPart part;
      part.begin = i * count;
      part.count = count;
      // The activation fused when oneDNN can (as the unsplit variant), alike in every part.
      std::optional<dnnl::convolution_forward::primitive_desc> pd =
          FusedIfPossible(PartParams(p, count), /*blocked=*/true, &fused, in_block, out_block);
      if (!pd.has_value()) return nullptr;
      if ((in_block > 0 || out_block > 0) && IsReferenceImpl(*pd)) return nullptr;
      part.pd = *pd;
      if (i == 0) {
        fused_all = fused;
      } else if (fused != fused_all || part.pd.src_desc() != parts.front().pd.src_desc()) {
        return nullptr;
      }
      if (!ReordersNeedNoScratchpad(in_block > 0 ? part.pd.src_desc() : PlainSrc(p),
                                    part.pd.src_desc(), part.pd.dst_desc(),
                                    out_block > 0 ? part.pd.dst_desc() : PlainDstSlice(p, count))) {
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
  return std::make_unique<ConvDnnlSplitTactic>(p, std::move(parts), fused_all, in_block, out_block);
}

}  // namespace refit::cpu::conv_dnnl
