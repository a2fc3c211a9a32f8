// Internal to backend/cpu: what conv_dnnl.cc (the shared set-up and the tactic list),
// conv_dnnl_images.cc (the unsplit variants and the batch splits) and conv_dnnl_split.cc (the
// output-channel splits) share: the primitive set-up and our packer for 1x1 weights. See
// conv_dnnl.cc for the tactics and oneDNN's threading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/backend.h"
#include "backend/cpu/conv_params.h"
#include "backend/cpu/dnnl_layout.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::cpu::conv_dnnl {

// The process's oneDNN CPU engine.
const dnnl::engine& CpuEngine();
// Appends act as oneDNN post-ops; false when oneDNN has no equivalent.
bool AppendActivation(const ir::FusedActivation& act, dnnl::post_ops* ops);
// The weights' dims: OIHW, or GOIHW for grouped convolutions.
dnnl::memory::dims WeightDims(const ConvParams& p);
// The engine's own layouts: NCHW input and output.
dnnl::memory::desc PlainSrc(const ConvParams& p);
dnnl::memory::desc PlainDst(const ConvParams& p);
// The primitive descriptor, with the activation fused when possible (`fused` says whether);
// `blocked`: src and dst in the layouts oneDNN prefers, else plain NCHW. Throws dnnl::error when
// oneDNN has no implementation.
dnnl::convolution_forward::primitive_desc MakePrimitiveDesc(const ConvParams& p, bool blocked,
                                                            bool fuse_act, bool* fused,
                                                            int in_block = 0, int out_block = 0);
inline size_t Align64(size_t n) { return (n + 63) / 64 * 64; }

// Our one-pass packer (blocked_pack.h) for an ungrouped 1x1 convolution's weights, one slice of
// output channels per primitive: a copy (plain layouts) or a blocked transpose, the values checked
// and a BatchNorm's per-channel factors applied on the way, where oneDNN's reorder needs a folded
// copy first and a zeroed buffer.
class PointwisePacker {
 public:
  // Output channels [begin, begin + count) go to `md` at byte `offset` of the packed weights.
  // False when our packer cannot write `md`; the packer must then not be used.
  bool Add(const ConvParams& p, const dnnl::memory::desc& md, int64_t begin, size_t offset);

  // `value`: the OIHW weights; row_scale: null or out_c factors. `floats`: the packed size.
  StatusOr<Tensor> Pack(const ConvParams& p, const Tensor& value, int64_t floats,
                        const float* row_scale, bool checked) const;

 private:
  struct Part {
    BlockedLayout2D layout;
    int64_t begin = 0;
    size_t offset = 0;  // bytes, increasing from part to part
  };
  std::vector<Part> parts_;
};

// What every conv_dnnl tactic shares (plain, blocked and the output-channel splits): the weights
// are input 1, packed into PackedFloats() floats, by our packer where it can write the
// primitives' layouts (values checked and BatchNorm factors applied as they are packed), else by
// oneDNN's reorder (Reorder). The other inputs keep their layout.
class ConvDnnlTacticBase : public backend::Tactic {
 public:
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }
  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override;
  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override;
  bool PacksChecked(size_t input) const override { return input == 1 && packer_.has_value(); }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override;
  bool PacksScaledRows(size_t input) const override { return PacksChecked(input); }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override;
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override;

 protected:
  explicit ConvDnnlTacticBase(const ConvParams& p) : p_(p) {}
  virtual int64_t PackedFloats() const = 0;
  // oneDNN's reorder of `w` (the OIHW f32 weights, size checked) into `packed` (PackedFloats(),
  // zeroed). May throw dnnl::error.
  virtual void Reorder(const float* w, Tensor* packed) const = 0;
  // The kernel over this tactic's primitives. May throw dnnl::error.
  virtual std::unique_ptr<backend::Kernel> NewKernel() const = 0;

  ConvParams p_;
  std::optional<PointwisePacker> packer_;  // for 1x1 weights in layouts our packer writes
};

// conv_dnnl/blocked_oc<n>: the blocked variant split into `n` parts of output channels, or null
// when every part's primitive would not take the same src layout, fuse the activation alike and
// reorder without a scratchpad.
std::unique_ptr<backend::Tactic> MakeSplitTactic(const ConvParams& p, int n, int in_block = 0,
                                                 int out_block = 0);

// MakePrimitiveDesc with the activation fused when oneDNN can, else without; nullopt when oneDNN
// has no implementation either way.
std::optional<dnnl::convolution_forward::primitive_desc> FusedIfPossible(const ConvParams& p,
                                                                         bool blocked, bool* fused,
                                                                         int in_block = 0,
                                                                         int out_block = 0);

// Whether the reorders from plain_src to src and from dst to plain_dst (each only where the two
// differ) need no scratchpad: the kernels run them concurrently, without one. May throw
// dnnl::error.
bool ReordersNeedNoScratchpad(const dnnl::memory::desc& plain_src, const dnnl::memory::desc& src,
                              const dnnl::memory::desc& dst, const dnnl::memory::desc& plain_dst);

// conv_dnnl (plain NCHW), conv_dnnl/blocked (parts 1) and conv_dnnl/blocked_n<parts>
// (conv_dnnl_images.cc): one primitive over batch / parts images, each part reordering,
// convolving and reordering back its own images. Null unless `parts` divides the batch, and for
// blocked variants unless oneDNN picks a blocked layout with reorders that need no scratchpad.
// in_block / out_block (blocked variants only): the input / output is channel-blocked
// (backend::Tactic::InputBlock) and used as it is, with no reorder; null unless oneDNN's layout
// for it is that very nChw<block>c.
std::unique_ptr<backend::Tactic> MakeConvDnnlTactic(const ConvParams& p, bool blocked, int parts,
                                                    int in_block = 0, int out_block = 0);
// True when oneDNN implements `pd` with its slow reference code ("ref:any").
bool IsReferenceImpl(const dnnl::convolution_forward::primitive_desc& pd);
// The channel-blocked layout [N][C / block][H][W][block] of an NCHW activation.
dnnl::memory::desc BlockedActivation(const dnnl::memory::dims& nchw, int block);

}  // namespace refit::cpu::conv_dnnl
