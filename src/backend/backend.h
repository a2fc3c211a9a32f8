// The backend interface: how the engine builder asks a backend to run one layer, and how a loaded
// engine gets the kernels back.
//
// Build-time half: a Backend lists the Tactics that can run a layer (a LayerDesc: one IR node with
// the concrete dtype and shape of every input and output). The tuner times them and keeps one.
// A Tactic packs each weight input into its own layout (PackWeight, also used by refit: packing
// depends only on the tactic and the recipe's output, never on tuning) and instantiates Kernels.
// Run-time half: a Kernel is immutable after Instantiate and runs the layer on already allocated
// buffers; Run is const and may be called from several threads at once (each with its own
// workspace). Loading an engine recreates each tactic by name (Backend::FindTactic), which fails
// cleanly when the tactic is unknown or this CPU lacks the features it needs.
//
// Registration is explicit: the engine layer names the backends it uses (no static initialisers).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "ir/graph.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::backend {

// dtype kUndefined: an absent optional input.
struct TensorDesc {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  bool dynamic = false;  // shape depends on input values: only the reference backend accepts it
  bool present() const { return dtype != DataType::kUndefined; }
};

// One layer as the builder hands it to a backend. The node's attributes are final (fusions
// included: see ir/fused_ops.h). `weight[i]` is true when input i is a weight slot: a constant at
// run time that the tactic may pack (PackWeight) and that refit may replace.
struct LayerDesc {
  const ir::Node* node = nullptr;
  int64_t opset = 0;
  std::vector<TensorDesc> inputs;
  std::vector<bool> weight;
  std::vector<TensorDesc> outputs;

  const TensorDesc& input(size_t i) const;  // an absent TensorDesc beyond the node's inputs
  bool is_weight(size_t i) const { return i < weight.size() && weight[i]; }
  std::string Label() const;  // "node 'conv1' (Conv)"
};

// What a Kernel reads and writes in one run. inputs[i]: the activation, or the tactic's packed
// weight for a weight input, or null for an absent input. outputs[i]: a buffer of the planned
// dtype and shape (static outputs); for dynamic outputs an undefined Tensor the kernel assigns.
struct KernelIo {
  std::vector<const Tensor*> inputs;
  std::vector<Tensor*> outputs;
  void* workspace = nullptr;   // Kernel::workspace_bytes(), 64-byte aligned
  ThreadPool* pool = nullptr;  // may be null
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Scratch memory one Run needs (allocated by the caller, per execution context).
  virtual size_t workspace_bytes() const { return 0; }
  // Runs the layer. Inputs' shapes are the planned ones (the caller checks).
  virtual Status Run(const KernelIo& io) const = 0;
};

class Tactic {
 public:
  virtual ~Tactic() = default;
  // Stable identifier recorded in the engine, unique among the tactics of one layer:
  // "conv_im2col_gemm/avx2_6x16_kc256_mc168".
  virtual std::string name() const = 0;
  // CPU features the kernel executes (cpu::CpuFeatures::ToString form); "" when none.
  virtual std::string required_features() const { return ""; }
  // Packs weight input `input` (the value its recipe produced, dtype and shape as in the
  // LayerDesc) into this tactic's layout. Deterministic; the default keeps the value as it is.
  virtual StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const;
  // True when PackWeight(input, v) gives v's bytes, dtype and shape unchanged (the default), so
  // a refit may hand over the recipe's freshly computed value instead of copying it. A tactic
  // that overrides PackWeight must override this for the inputs it repacks; the tactic
  // conformance suite checks the claim for every tactic and weight input.
  virtual bool KeepsWeightLayout(size_t input) const { return true; }
  // True when output 0 holds exactly input 0's bytes (an operator that only changes the shape),
  // so the kernel also runs with the two at the same address (it then does nothing): the builder
  // plans them as one buffer. The conformance suite runs such kernels both ways.
  virtual bool AliasesInput() const { return false; }
  // Channel-blocked activations. A block b > 0 means the 4-D f32 activation [N, C, H, W] is held
  // as [N][C / b][H][W][b] (NCHWc, C a multiple of b; the same bytes as NCHW) instead of NCHW:
  // InputBlock() for input 0, OutputBlock() for output 0; 0 (the default) is the plain layout
  // other outputs always have (and other inputs, see InputBlockAt). A tactic with a block is only
  // chosen where its neighbours agree: the builder's layout selection holds a value blocked only
  // where its producer writes it and every layer that reads it reads it with that block
  // (engine/layout_select.h), so no reorder runs between them. The tactic conformance suite
  // converts to and from the blocked layouts around such a kernel.
  virtual int InputBlock() const { return 0; }
  virtual int OutputBlock() const { return 0; }
  // The block of input `input`: InputBlock() for input 0, plain for the others, unless the tactic
  // reads several activations blocked (an elementwise layer over same-shaped tensors, which reads
  // every input and writes its output in one layout).
  virtual int InputBlockAt(size_t input) const { return input == 0 ? InputBlock() : 0; }
  // The dtype and shape PackWeight gives for a value of `value`'s dtype and shape, computed
  // without packing: a loaded engine checks every slot against it, and packing a zero tensor per
  // slot would cost a whole extra pack pass on each load. The default is `value` when the tactic
  // keeps the layout, else the type of a packed zero tensor; a tactic that repacks large weights
  // overrides it. The tactic conformance suite checks every answer against PackWeight.
  virtual StatusOr<TensorDesc> PackedType(size_t input, const TensorDesc& value) const;
  // True when PackWeightScaledRows is implemented for `input`.
  virtual bool PacksScaledRows(size_t input) const { return false; }
  // Packs value[c, ...] * row_scale[c] (c over the first axis) in one pass, with exactly the bytes
  // PackWeight gives for the product computed first: a refit of a BatchNorm-folded weight then
  // reads the weight once instead of writing and re-reading the folded copy. Fails with
  // InvalidArgument when a product is not finite. The default is Unimplemented.
  virtual StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                                const float* row_scale) const;
  // True when PackWeightChecked is implemented for `input`.
  virtual bool PacksChecked(size_t input) const { return false; }
  // PackWeight's bytes, refusing a non-finite value (InvalidArgument) as it packs: a refit then
  // needs no separate pass over the new weight to check it. (PackWeight itself accepts any
  // value: a build packs what the model holds.) The default is Unimplemented.
  virtual StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const;
  // True when PackWeightTransposed is implemented for `input`.
  virtual bool PacksTransposed(size_t input) const { return false; }
  // Packs the transpose of the 2-D `source` (input `input`'s value is source^T) with exactly the
  // bytes PackWeight gives for the transposed copy: a refit of a weight that a pass transposed (a
  // MatMul's [out, in] weight, a tied LM head) reads the source once instead of writing and
  // re-reading a transposed copy. Fails with InvalidArgument when a value is not finite (the
  // caller needs no scan of its own). The default is Unimplemented.
  virtual StatusOr<Tensor> PackWeightTransposed(size_t input, const Tensor& source) const;
  virtual StatusOr<std::unique_ptr<Kernel>> Instantiate() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu", "reference"
  // What a tactic's speed depends on besides the layer: library versions and the CPU's features.
  // Part of the timing-cache key, so a cache never outlives an upgrade.
  virtual std::string fingerprint() const { return name(); }
  // Every tactic this backend has for `layer` on this machine, best guess first; empty when it
  // cannot run the layer. The tactics may keep a pointer to layer.node: it outlives them.
  virtual std::vector<std::unique_ptr<Tactic>> Tactics(const LayerDesc& layer) const = 0;
  // The tactic `name` for `layer`, as Tactics() would list it; NotFound when there is none by that
  // name, FailedPrecondition (naming the missing features) when this CPU cannot run it.
  virtual StatusOr<std::unique_ptr<Tactic>> FindTactic(const LayerDesc& layer,
                                                       const std::string& name) const;
};

}  // namespace refit::backend
