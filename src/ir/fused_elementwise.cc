#include "ir/fused_elementwise.h"

#include <array>
#include <utility>

namespace refit::ir {
namespace {

struct OpInfo {
  EwOp op;
  std::string_view name;
  int arity;
};

constexpr std::array<OpInfo, 34> kOps = {{
    {EwOp::kRelu, "Relu", 1},
    {EwOp::kSigmoid, "Sigmoid", 1},
    {EwOp::kTanh, "Tanh", 1},
    {EwOp::kErf, "Erf", 1},
    {EwOp::kExp, "Exp", 1},
    {EwOp::kLog, "Log", 1},
    {EwOp::kSqrt, "Sqrt", 1},
    {EwOp::kNeg, "Neg", 1},
    {EwOp::kAbs, "Abs", 1},
    {EwOp::kReciprocal, "Reciprocal", 1},
    {EwOp::kFloor, "Floor", 1},
    {EwOp::kCeil, "Ceil", 1},
    {EwOp::kHardSwish, "HardSwish", 1},
    {EwOp::kLeakyRelu, "LeakyRelu", 2},
    {EwOp::kHardSigmoid, "HardSigmoid", 3},
    {EwOp::kClip, "Clip", 3},
    {EwOp::kSoftplus, "Softplus", 1},
    {EwOp::kElu, "Elu", 2},
    {EwOp::kSelu, "Selu", 3},
    {EwOp::kPRelu, "PRelu", 2},
    {EwOp::kThresholdedRelu, "ThresholdedRelu", 2},
    {EwOp::kSoftsign, "Softsign", 1},
    {EwOp::kCelu, "Celu", 2},
    {EwOp::kSin, "Sin", 1},
    {EwOp::kCos, "Cos", 1},
    {EwOp::kSign, "Sign", 1},
    {EwOp::kRound, "Round", 1},
    {EwOp::kAdd, "Add", 2},
    {EwOp::kSub, "Sub", 2},
    {EwOp::kMul, "Mul", 2},
    {EwOp::kDiv, "Div", 2},
    {EwOp::kPow, "Pow", 2},
    {EwOp::kMax, "Max", 2},
    {EwOp::kMin, "Min", 2},
}};

const OpInfo* Info(EwOp op) {
  for (const OpInfo& i : kOps) {
    if (i.op == op) return &i;
  }
  return nullptr;
}

Attribute FloatsAttr(std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}

}  // namespace

int EwArity(EwOp op) {
  const OpInfo* i = Info(op);
  return i == nullptr ? 0 : i->arity;
}

bool EwOptionalOperand(EwOp op, int operand) { return op == EwOp::kClip && operand >= 1; }

std::string_view EwOpName(EwOp op) {
  const OpInfo* i = Info(op);
  return i == nullptr ? "?" : i->name;
}

std::optional<EwOp> EwOpFromOnnx(const std::string& op_type) {
  for (const OpInfo& i : kOps) {
    if (i.name == op_type) return i.op;
  }
  return std::nullopt;
}

std::string EwProgram::ToString() const {
  auto operand = [&](int32_t v) -> std::string {
    if (v < num_inputs) return "in" + std::to_string(v);
    if (v < num_inputs + int32_t(constants.size())) {
      return std::to_string(constants[size_t(v - num_inputs)]);
    }
    return "v" + std::to_string(v);
  };
  std::string s;
  for (size_t k = 0; k < code.size(); ++k) {
    const EwInstr& in = code[k];
    if (k) s += "; ";
    s += "v" + std::to_string(ResultId(k)) + " = " + std::string(EwOpName(in.op)) + "(";
    const int32_t ops[3] = {in.a, in.b, in.c};
    for (int o = 0; o < EwArity(in.op); ++o) {
      if (o) s += ", ";
      s += ops[o] < 0 ? "none" : operand(ops[o]);
    }
    s += ")";
  }
  return s;
}

StatusOr<EwProgram> GetEwProgram(const Node& node) {
  auto label = [&] { return "node '" + node.name + "' (" + node.op_type + "): "; };
  EwProgram p;
  p.num_inputs = int32_t(node.inputs.size());
  auto code = node.attrs.GetInts("program");
  if (!code.ok()) return code.status().WithContext(label());
  auto constants = node.attrs.GetFloats("constants");
  if (!constants.ok()) return constants.status().WithContext(label());
  p.constants = *constants;
  if (code->empty() || code->size() % 4 != 0) {
    return InvalidArgument(label() + "program must hold 4 ints per instruction, found " +
                           std::to_string(code->size()));
  }
  for (size_t k = 0; k < code->size() / 4; ++k) {
    const int64_t* w = code->data() + 4 * k;
    EwInstr in{EwOp(w[0]), int32_t(w[1]), int32_t(w[2]), int32_t(w[3])};
    const int arity = EwArity(in.op);
    if (arity == 0) {
      return InvalidArgument(label() + "instruction " + std::to_string(k) + ": unknown opcode " +
                             std::to_string(w[0]));
    }
    const int32_t limit = p.ResultId(k);
    const int64_t ops[3] = {w[1], w[2], w[3]};
    for (int o = 0; o < 3; ++o) {
      const bool used = o < arity;
      const bool ok =
          used ? ((ops[o] >= 0 && ops[o] < limit) || (ops[o] == -1 && EwOptionalOperand(in.op, o)))
               : ops[o] == -1;
      if (!ok) {
        return InvalidArgument(label() + "instruction " + std::to_string(k) + " (" +
                               std::string(EwOpName(in.op)) + "): operand " + std::to_string(o) +
                               " is " + std::to_string(ops[o]) + ", expected " +
                               (used ? "a value id below " + std::to_string(limit) : "-1"));
      }
    }
    p.code.push_back(in);
  }
  return p;
}

void SetEwProgram(Node& node, const EwProgram& program) {
  Attribute code;
  code.kind = Attribute::Kind::kInts;
  for (const EwInstr& in : program.code) {
    code.ints.insert(code.ints.end(), {int64_t(in.op), in.a, in.b, in.c});
  }
  node.attrs.Set("program", code);
  node.attrs.Set("constants", FloatsAttr(program.constants));
}

StatusOr<EwProgram> ProgramForNode(const Node& node, int64_t opset) {
  auto label = [&] { return "node '" + node.name + "' (" + node.op_type + "): "; };
  const std::optional<EwOp> op = node.domain.empty() ? EwOpFromOnnx(node.op_type) : std::nullopt;
  if (!op || node.outputs.size() != 1) {
    return InvalidArgument(label() + "not a single-output element-wise operator");
  }
  EwProgram p;
  p.num_inputs = int32_t(node.inputs.size());
  const int arity = EwArity(*op);
  auto attr = [&](const char* name, float def) -> StatusOr<int32_t> {
    auto v = node.attrs.GetFloat(name, def);
    if (!v.ok()) return v.status().WithContext(label());
    p.constants.push_back(*v);
    return p.num_inputs + int32_t(p.constants.size()) - 1;
  };
  if (*op == EwOp::kPRelu && opset < 7) {
    return InvalidArgument(label() + "PRelu before opset 7 broadcasts its slope otherwise");
  }
  EwInstr in{*op, 0, -1, -1};
  const int32_t n_in = p.num_inputs;
  auto present = [&](int i) { return i < n_in && !node.inputs[size_t(i)].empty(); };
  if (*op == EwOp::kLeakyRelu || *op == EwOp::kHardSigmoid || *op == EwOp::kElu ||
      *op == EwOp::kSelu || *op == EwOp::kThresholdedRelu || *op == EwOp::kCelu) {
    // One input; the other operands are attributes (ONNX defaults).
    if (n_in != 1 || !present(0)) return InvalidArgument(label() + "expected 1 input");
    if (*op == EwOp::kLeakyRelu) {
      REFIT_ASSIGN_OR_RETURN(in.b, attr("alpha", 0.01f));
    } else if (*op == EwOp::kHardSigmoid) {
      REFIT_ASSIGN_OR_RETURN(in.b, attr("alpha", 0.2f));
      REFIT_ASSIGN_OR_RETURN(in.c, attr("beta", 0.5f));
    } else if (*op == EwOp::kSelu) {
      REFIT_ASSIGN_OR_RETURN(in.b, attr("alpha", 1.67326319217681884765625f));
      REFIT_ASSIGN_OR_RETURN(in.c, attr("gamma", 1.05070102214813232421875f));
    } else {  // Elu, ThresholdedRelu, Celu
      REFIT_ASSIGN_OR_RETURN(in.b, attr("alpha", 1.0f));
    }
  } else if (*op == EwOp::kClip) {
    if (n_in < 1 || n_in > 3 || !present(0)) return InvalidArgument(label() + "bad inputs");
    if (opset < 11) {
      if (n_in != 1) return InvalidArgument(label() + "expected 1 input before opset 11");
      if (node.attrs.Has("min")) {
        REFIT_ASSIGN_OR_RETURN(in.b, attr("min", 0.f));
      }
      if (node.attrs.Has("max")) {
        REFIT_ASSIGN_OR_RETURN(in.c, attr("max", 0.f));
      }
    } else {
      in.b = present(1) ? 1 : -1;
      in.c = present(2) ? 2 : -1;
    }
  } else {
    if (n_in != arity) {
      return InvalidArgument(label() + "expected " + std::to_string(arity) + " inputs, found " +
                             std::to_string(n_in));
    }
    for (int i = 0; i < arity; ++i) {
      if (!present(i)) return InvalidArgument(label() + "input " + std::to_string(i) + " absent");
    }
    if (arity >= 2) in.b = 1;
  }
  p.code.push_back(in);
  return p;
}

}  // namespace refit::ir
