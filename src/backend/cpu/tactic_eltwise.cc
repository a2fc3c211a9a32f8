// Element-wise tactics: refit.FusedElementwise programs (ir/fused_elementwise.h) and plain f32
// element-wise nodes (run as one-instruction programs), by one block interpreter.
//
// Broadcasting: at Instantiate the output's axes are coalesced wherever every input is either
// contiguous or broadcast across the merged axes, so the output becomes rows of length L over
// which each input is a contiguous run (stride 1) or a repeated scalar (stride 0). Same shape,
// scalars, per-channel [1, C, 1, 1] and trailing vectors all become long rows; other patterns
// cost an offset computation per row. Rows are cut into kEwBlock-element blocks, the unit of
// parallel work; each block runs the whole program with intermediates in a stack buffer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/eltwise_kernel.h"
#include "backend/cpu/eltwise_tactic.h"
#include "ir/fused_elementwise.h"
#include "ir/fused_ops.h"

namespace refit::cpu {
namespace internal {

void EwScalarInstr(const EwCode& code, const EwOperand& a, const EwOperand& b, const EwOperand& c,
                   float* dst, int64_t n) {
  const ir::EwOp op = ir::EwOp(code.op);
  for (int64_t i = 0; i < n; ++i) {
    const float va = a.scalar ? *a.p : a.p[i];
    const float vb = b.scalar ? *b.p : b.p[i];
    const float vc = c.scalar ? *c.p : c.p[i];
    dst[i] = ir::EwApply<float>(op, va, vb, vc);
  }
}

void RunEwBlockScalar(EwBlock& block) {
  static const float kNone = 0.f;
  const EwOperand none{&kNone, true};
  for (int k = 0; k < block.num_code; ++k) {
    const EwCode& code = block.code[k];
    float* dst = k + 1 == block.num_code ? block.out : block.scratch + k * kEwBlock;
    EwScalarInstr(code, block.values[code.a], code.b >= 0 ? block.values[code.b] : none,
                  code.c >= 0 ? block.values[code.c] : none, dst, block.n);
    block.values[block.first_result + k] = EwOperand{dst, false};
  }
}

}  // namespace internal

namespace {

using internal::EwBlock;
using internal::EwCode;
using internal::EwOperand;
using internal::kEwBlock;

struct Layout {
  std::vector<int64_t> outer;                 // coalesced outer dims (rows = product)
  std::vector<std::vector<int64_t>> strides;  // per input: stride per outer dim
  std::vector<bool> inner_contig;             // per input: stride 1 along the row (else 0)
  int64_t row = 1;                            // row length L
  int64_t rows = 1;
  int64_t blocks_per_row = 1;
};

// Coalesces the broadcast of `ins` to `out` (see the file comment). Absent inputs get nothing.
Layout MakeLayout(const Shape& out, const std::vector<backend::TensorDesc>& ins) {
  const size_t rank = out.rank();
  std::vector<int64_t> dims;
  dims.reserve(rank);
  std::vector<std::vector<int64_t>> st(ins.size());
  for (std::vector<int64_t>& s : st) s.reserve(rank);
  for (size_t a = 0; a < rank; ++a) {
    if (out[a] == 1) continue;
    dims.push_back(out[a]);
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!ins[i].present()) continue;
      const Shape& s = ins[i].shape;
      const size_t off = rank - s.rank();
      int64_t stride = 0;
      if (a >= off && s[a - off] != 1) {
        stride = 1;
        for (size_t b = a - off + 1; b < s.rank(); ++b) stride *= s[b];
      }
      st[i].push_back(stride);
    }
  }
  // Merge axis d into d + 1 (from the inside out) when every input allows it.
  for (size_t d = dims.size(); d-- > 1;) {
    bool ok = true;
    for (size_t i = 0; i < ins.size() && ok; ++i) {
      if (ins[i].present()) ok = st[i][d - 1] == st[i][d] * dims[d];
    }
    if (!ok) continue;
    dims[d - 1] *= dims[d];
    dims.erase(dims.begin() + long(d));
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!ins[i].present()) continue;
      st[i][d - 1] = st[i][d];
      st[i].erase(st[i].begin() + long(d));
    }
  }
  Layout l;
  if (dims.empty()) dims.push_back(1);
  l.row = dims.back();
  l.outer.assign(dims.begin(), dims.end() - 1);
  for (int64_t d : l.outer) l.rows *= d;
  l.strides.resize(ins.size());
  l.inner_contig.resize(ins.size(), false);
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i].present()) continue;
    if (st[i].empty()) st[i].push_back(0);  // a rank-0 output
    l.inner_contig[i] = st[i].back() != 0;
    l.strides[i].assign(st[i].begin(), st[i].end() - 1);
  }
  l.blocks_per_row = (l.row + kEwBlock - 1) / kEwBlock;
  return l;
}

class EltwiseKernel : public backend::Kernel {
 public:
  EltwiseKernel(std::vector<EwCode> code, std::vector<float> constants, int num_inputs,
                Layout layout, internal::EwBlockFn fn)
      : code_(std::move(code)),
        constants_(std::move(constants)),
        num_inputs_(num_inputs),
        layout_(std::move(layout)),
        fn_(fn) {}

  Status Run(const backend::KernelIo& io) const override {
    float* out = io.outputs[0]->mutable_data_as<float>();
    const int64_t units = layout_.rows * layout_.blocks_per_row;
    const int64_t total = layout_.rows * layout_.row;
    auto body = [&](int64_t begin, int64_t end) {
      EwOperand values[internal::kEwMaxValues];
      alignas(64) float scratch[internal::kEwMaxInstructions * kEwBlock];
      for (size_t k = 0; k < constants_.size(); ++k) {
        values[size_t(num_inputs_) + k] = EwOperand{&constants_[k], true};
      }
      for (int64_t u = begin; u < end; ++u) RunUnit(io, u, values, scratch, out);
    };
    // Small tensors are not worth waking the pool for.
    if (total < 32768) {
      body(0, units);
    } else {
      ParallelFor(io.pool, units, body);
    }
    return Status::Ok();
  }

 private:
  void RunUnit(const backend::KernelIo& io, int64_t unit, EwOperand* values, float* scratch,
               float* out) const {
    const int64_t r = unit / layout_.blocks_per_row;
    const int64_t j0 = (unit % layout_.blocks_per_row) * kEwBlock;
    const int64_t n = std::min(kEwBlock, layout_.row - j0);
    for (int i = 0; i < num_inputs_; ++i) {
      const Tensor* t = io.inputs[size_t(i)];
      if (t == nullptr) continue;
      int64_t off = 0, rem = r;
      const std::vector<int64_t>& st = layout_.strides[size_t(i)];
      for (size_t d = layout_.outer.size(); d-- > 0;) {
        off += (rem % layout_.outer[d]) * st[d];
        rem /= layout_.outer[d];
      }
      const float* p = t->data_as<float>() + off;
      values[i] = layout_.inner_contig[size_t(i)] ? EwOperand{p + j0, false} : EwOperand{p, true};
    }
    EwBlock block{
        code_.data(), int(code_.size()),          values, num_inputs_ + int(constants_.size()),
        scratch,      out + r * layout_.row + j0, n,      &internal::EwScalarInstr};
    fn_(block);
  }

  std::vector<EwCode> code_;
  std::vector<float> constants_;
  int num_inputs_;
  Layout layout_;
  internal::EwBlockFn fn_;
};

// `block` > 0: every input and the output channel-blocked (backend::Tactic::InputBlockAt), for
// a layer whose inputs all have the output's shape, so the program runs on the same bytes.
class EltwiseTactic : public backend::Tactic {
 public:
  EltwiseTactic(std::string name, std::string features, ir::EwProgram program, Layout layout,
                internal::EwBlockFn fn, int block = 0)
      : name_(std::move(name) + BlockedIoSuffix(block, block)),
        features_(std::move(features)),
        program_(std::move(program)),
        layout_(std::move(layout)),
        fn_(fn),
        block_(block) {}
  std::string name() const override { return name_; }
  std::string required_features() const override { return features_; }
  int InputBlock() const override { return block_; }
  int OutputBlock() const override { return block_; }
  int InputBlockAt(size_t) const override { return block_; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    std::vector<EwCode> code;
    for (const ir::EwInstr& in : program_.code) code.push_back({int32_t(in.op), in.a, in.b, in.c});
    return std::unique_ptr<backend::Kernel>(
        new EltwiseKernel(std::move(code), program_.constants, program_.num_inputs, layout_, fn_));
  }

 private:
  std::string name_, features_;
  ir::EwProgram program_;
  Layout layout_;
  internal::EwBlockFn fn_;
  int block_;
};

// The channel block the layer may run with every input and its output blocked in: the machine's
// activation block when the output is a 4-D tensor whose channels it divides and every input is
// an activation (no weight) of the output's shape; else 0.
int SameShapeBlock(const backend::LayerDesc& layer) {
  const int block = ActivationBlock();
  const Shape& out = layer.outputs[0].shape;
  if (block == 0 || out.rank() != 4 || out[1] % block != 0) return 0;
  for (size_t i = 0; i < layer.node->inputs.size(); ++i) {
    const backend::TensorDesc in = layer.input(i);
    if (!in.present() || layer.is_weight(i) || in.dtype != DataType::kF32 || in.shape != out) {
      return 0;
    }
  }
  return block;
}

// Absent Clip bounds become +-inf constants, so the runners never see a missing operand. Result
// ids shift by the constants added.
ir::EwProgram FillAbsentBounds(ir::EwProgram p) {
  std::vector<float> extra;
  for (const ir::EwInstr& in : p.code) {
    if (in.op == ir::EwOp::kClip && in.b < 0) extra.push_back(-INFINITY);
    if (in.op == ir::EwOp::kClip && in.c < 0) extra.push_back(INFINITY);
  }
  if (extra.empty()) return p;
  const int32_t old_first = p.ResultId(0);
  const int32_t shift = int32_t(extra.size());
  const int32_t first_new = old_first;
  size_t next = 0;
  for (ir::EwInstr& in : p.code) {
    for (int32_t* v : {&in.a, &in.b, &in.c}) {
      if (*v >= old_first) *v += shift;
    }
    if (in.op == ir::EwOp::kClip && in.b < 0) in.b = first_new + int32_t(next++);
    if (in.op == ir::EwOp::kClip && in.c < 0) in.c = first_new + int32_t(next++);
  }
  p.constants.insert(p.constants.end(), extra.begin(), extra.end());
  return p;
}

std::optional<ir::EwProgram> EltwiseProgramFor(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (node.outputs.size() != 1 || layer.outputs.size() != 1 ||
      layer.outputs[0].dtype != DataType::kF32 || node.attrs.Has(ir::kActivationAttr))
    return std::nullopt;
  const bool fused = node.domain == ir::kRefitDomain && node.op_type == ir::kFusedElementwiseOp;
  if (!fused && !(node.domain.empty() && ir::EwOpFromOnnx(node.op_type))) return std::nullopt;
  StatusOr<ir::EwProgram> p =
      fused ? ir::GetEwProgram(node) : ir::ProgramForNode(node, layer.opset);
  if (!p.ok()) return std::nullopt;
  // Every present input f32 and broadcasting exactly to the planned output.
  Shape shape;
  bool first = true;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const backend::TensorDesc& d = layer.input(i);
    if (!d.present()) continue;
    if (d.dtype != DataType::kF32) return std::nullopt;
    auto b = first ? StatusOr<Shape>(d.shape) : BroadcastShapes(shape, d.shape);
    if (!b.ok()) return std::nullopt;
    shape = *b;
    first = false;
  }
  if (first || shape != layer.outputs[0].shape) return std::nullopt;
  ir::EwProgram filled = FillAbsentBounds(std::move(p).value());
  if (filled.num_values() > internal::kEwMaxValues ||
      int(filled.code.size()) > internal::kEwMaxInstructions)
    return std::nullopt;
  return filled;
}

}  // namespace

std::optional<ir::EwProgram> ActivationProgram(const ir::FusedActivation& act) {
  using ir::EwOp;
  ir::EwProgram p;
  p.num_inputs = 1;
  auto k = [&](float v) {
    p.constants.push_back(v);
    return p.ConstId(p.constants.size() - 1);
  };
  // Constants first: result ids depend on their count.
  switch (act.kind) {
    case ir::ActivationKind::kNone:
      return std::nullopt;
    case ir::ActivationKind::kRelu:
      p.code = {{EwOp::kRelu, 0, -1, -1}};
      break;
    case ir::ActivationKind::kTanh:
      p.code = {{EwOp::kTanh, 0, -1, -1}};
      break;
    case ir::ActivationKind::kSigmoid:
      p.code = {{EwOp::kSigmoid, 0, -1, -1}};
      break;
    case ir::ActivationKind::kHardSwish:
      p.code = {{EwOp::kHardSwish, 0, -1, -1}};
      break;
    case ir::ActivationKind::kSilu:
      p.code = {{EwOp::kSigmoid, 0, -1, -1}, {EwOp::kMul, 0, 1, -1}};
      break;
    case ir::ActivationKind::kLeakyRelu: {
      const int32_t a = k(act.alpha);
      p.code = {{EwOp::kLeakyRelu, 0, a, -1}};
      break;
    }
    case ir::ActivationKind::kHardSigmoid:
    case ir::ActivationKind::kClip: {
      const int32_t a = k(act.alpha), b = k(act.beta);
      p.code = {
          {act.kind == ir::ActivationKind::kClip ? EwOp::kClip : EwOp::kHardSigmoid, 0, a, b}};
      break;
    }
    case ir::ActivationKind::kGelu: {
      const int32_t r2 = k(float(M_SQRT1_2)), one = k(1.f), half = k(0.5f);
      const int32_t v = p.ResultId(0);
      p.code = {{EwOp::kMul, 0, r2, -1},
                {EwOp::kErf, v, -1, -1},
                {EwOp::kAdd, v + 1, one, -1},
                {EwOp::kMul, 0, v + 2, -1},
                {EwOp::kMul, v + 3, half, -1}};
      break;
    }
  }
  return p;
}

InPlaceProgram::InPlaceProgram(const ir::EwProgram& program, internal::EwBlockFn fn)
    : constants_(program.constants), fn_(fn) {
  for (const ir::EwInstr& in : program.code) code_.push_back({int32_t(in.op), in.a, in.b, in.c});
}

void InPlaceProgram::Run(float* data, int64_t n) const {
  EwOperand values[internal::kEwMaxValues];
  alignas(64) float scratch[internal::kEwMaxInstructions * kEwBlock];
  for (size_t k = 0; k < constants_.size(); ++k) values[1 + k] = EwOperand{&constants_[k], true};
  for (int64_t j = 0; j < n; j += kEwBlock) {
    values[0] = EwOperand{data + j, false};
    EwBlock block{code_.data(),
                  int(code_.size()),
                  values,
                  1 + int(constants_.size()),
                  scratch,
                  data + j,
                  std::min(kEwBlock, n - j),
                  &internal::EwScalarInstr};
    fn_(block);
  }
}

void AddElementwiseTactics(const backend::LayerDesc& layer, TacticList* out,
                           std::string_view name) {
  std::optional<ir::EwProgram> program = EltwiseProgramFor(layer);
  if (!program) return;
  std::vector<backend::TensorDesc> ins;
  ins.reserve(layer.node->inputs.size());
  for (size_t i = 0; i < layer.node->inputs.size(); ++i) ins.push_back(layer.input(i));
  const Layout layout = MakeLayout(layer.outputs[0].shape, ins);
  const auto wanted = [&](std::string_view variant) { return name.empty() || name == variant; };
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx2 && cpu.fma) {
    CpuFeatures need;
    need.avx = need.avx2 = need.fma = true;
    if (wanted("eltwise/avx2")) {
      out->push_back(std::make_unique<EltwiseTactic>("eltwise/avx2", need.ToString(), *program,
                                                     layout, &internal::RunEwBlockAvx2));
    }
    const int block = SameShapeBlock(layer);
    if (block > 0 && wanted("eltwise/avx2" + BlockedIoSuffix(block, block))) {
      out->push_back(std::make_unique<EltwiseTactic>("eltwise/avx2", need.ToString(), *program,
                                                     layout, &internal::RunEwBlockAvx2, block));
    }
  }
  if (wanted("eltwise/scalar")) {
    out->push_back(std::make_unique<EltwiseTactic>("eltwise/scalar", "", *program, layout,
                                                   &internal::RunEwBlockScalar));
  }
}

}  // namespace refit::cpu
