// refit.FusedElementwise: a chain or tree of element-wise operators collapsed into one node that
// carries a small straight-line program (written by passes/fuse_elementwise.cc, run by the
// reference kernel and the CPU tactics).
//
// Attributes of the node:
// - "program" (ints): 4 ints per instruction: opcode (EwOp), then operands a, b, c (-1: none).
// - "constants" (floats, optional): scalar constants the program reads (Constant-node scalars and
//   operator attributes such as LeakyRelu's alpha). Never a weight's value: weights stay inputs.
// Operands are value ids: [0, num_inputs) the node's inputs (broadcast numpy-style to the output
// shape, which is the broadcast of all inputs), then one id per constant, then one id per
// instruction result in order. The last instruction's result is the node's output.
// Each instruction computes exactly what the ONNX operator's reference kernel computes for one
// element (EwApply below), so a fused chain is bit-identical to the unfused one in the reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "refit/status.h"

namespace refit::ir {

inline constexpr char kFusedElementwiseOp[] = "FusedElementwise";

// Opcodes are stored in engine files: append, never renumber.
enum class EwOp : int32_t {
  kRelu = 1,
  kSigmoid = 2,
  kTanh = 3,
  kErf = 4,
  kExp = 5,
  kLog = 6,
  kSqrt = 7,
  kNeg = 8,
  kAbs = 9,
  kReciprocal = 10,
  kFloor = 11,
  kCeil = 12,
  kHardSwish = 13,
  kLeakyRelu = 14,    // b: alpha
  kHardSigmoid = 15,  // b: alpha, c: beta
  kClip = 16,         // b: min or -1, c: max or -1
  kSoftplus = 17,
  kElu = 18,              // b: alpha
  kSelu = 19,             // b: alpha, c: gamma
  kPRelu = 20,            // b: slope (an input)
  kThresholdedRelu = 21,  // b: alpha
  kSoftsign = 22,
  kCelu = 23,  // b: alpha
  kSin = 24,
  kCos = 25,
  kSign = 26,
  kRound = 27,  // halves to even
  kAdd = 32,
  kSub = 33,
  kMul = 34,
  kDiv = 35,
  kPow = 36,
  kMax = 37,
  kMin = 38,
};

struct EwInstr {
  EwOp op = EwOp::kRelu;
  int32_t a = -1, b = -1, c = -1;
  bool operator==(const EwInstr&) const = default;
};

struct EwProgram {
  int32_t num_inputs = 0;
  std::vector<float> constants;
  std::vector<EwInstr> code;

  int32_t num_values() const { return num_inputs + int32_t(constants.size() + code.size()); }
  // Value id of constant k / of instruction k's result.
  int32_t ConstId(size_t k) const { return num_inputs + int32_t(k); }
  int32_t ResultId(size_t k) const { return num_inputs + int32_t(constants.size() + k); }
  // "v3 = Mul(in0, c0); ..." for messages and `inspect`.
  std::string ToString() const;
  bool operator==(const EwProgram&) const = default;
};

// Number of operands the opcode uses (1 to 3: a always, then b, c); 0 for an unknown opcode.
int EwArity(EwOp op);
// True when operand b / c may be -1 (Clip's bounds).
bool EwOptionalOperand(EwOp op, int operand);
std::string_view EwOpName(EwOp op);

// The opcode of an ONNX default-domain element-wise operator ("Add", "Relu", ...), or nullopt.
std::optional<EwOp> EwOpFromOnnx(const std::string& op_type);

// Reads and validates the program of a FusedElementwise node with `num_inputs` inputs: known
// opcodes, operands referring to inputs, constants or earlier results only, at least one
// instruction. Errors name the node.
StatusOr<EwProgram> GetEwProgram(const Node& node);
void SetEwProgram(Node& node, const EwProgram& program);

// A one-instruction program equivalent to a standard element-wise node (how the CPU tactics run
// plain Add, Relu, ...). Attributes (LeakyRelu alpha, HardSigmoid alpha/beta, Clip min/max before
// opset 11) become constants; Clip's bound inputs stay inputs. Error when the node is not one.
StatusOr<EwProgram> ProgramForNode(const Node& node, int64_t opset);

// One instruction on one element, in C (float for f32, double for f64) exactly as the reference
// kernel of the ONNX operator computes it. b and c are ignored when the opcode does not use them;
// for Clip an absent bound is passed as -inf / +inf.
template <typename C>
C EwApply(EwOp op, C a, C b, C c) {
  switch (op) {
    case EwOp::kRelu:
      return a > C(0) ? a : C(0);
    case EwOp::kSigmoid:
      if (a >= C(0)) return C(1) / (C(1) + std::exp(-a));
      return std::exp(a) / (C(1) + std::exp(a));
    case EwOp::kTanh:
      return std::tanh(a);
    case EwOp::kErf:
      return std::erf(a);
    case EwOp::kExp:
      return std::exp(a);
    case EwOp::kLog:
      return std::log(a);
    case EwOp::kSqrt:
      return std::sqrt(a);
    case EwOp::kNeg:
      return -a;
    case EwOp::kAbs:
      return a < C(0) ? -a : a;
    case EwOp::kReciprocal:
      return C(1) / a;
    case EwOp::kFloor:
      return std::floor(a);
    case EwOp::kCeil:
      return std::ceil(a);
    case EwOp::kHardSwish:
      return a * std::max(C(0), std::min(C(1), a / C(6) + C(0.5)));
    case EwOp::kLeakyRelu:
      return a < C(0) ? b * a : a;
    case EwOp::kHardSigmoid:
      return std::max(C(0), std::min(C(1), b * a + c));
    case EwOp::kClip:
      return std::min(std::max(a, b), c);
    case EwOp::kSoftplus:
      return a > C(0) ? a + std::log1p(std::exp(-a)) : std::log1p(std::exp(a));
    case EwOp::kElu:
      return a < C(0) ? b * (std::exp(a) - C(1)) : a;
    case EwOp::kSelu:
      return a > C(0) ? c * a : c * (b * std::exp(a) - b);
    case EwOp::kPRelu:
      return a < C(0) ? b * a : a;
    case EwOp::kThresholdedRelu:
      return a > b ? a : C(0);
    case EwOp::kSoftsign:
      return a / (C(1) + std::abs(a));
    case EwOp::kCelu:
      return std::max(C(0), a) + std::min(C(0), b * (std::exp(a / b) - C(1)));
    case EwOp::kSin:
      return std::sin(a);
    case EwOp::kCos:
      return std::cos(a);
    case EwOp::kSign:
      if (std::isnan(a)) return a;
      return C(int(C(0) < a) - int(a < C(0)));
    case EwOp::kRound:
      return std::nearbyint(a);
    case EwOp::kAdd:
      return a + b;
    case EwOp::kSub:
      return a - b;
    case EwOp::kMul:
      return a * b;
    case EwOp::kDiv:
      return a / b;
    case EwOp::kPow:
      return C(std::pow(double(a), double(b)));
    case EwOp::kMax:
      if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
      return b > a ? b : a;
    case EwOp::kMin:
      if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
      return b < a ? b : a;
  }
  return std::numeric_limits<C>::quiet_NaN();
}

}  // namespace refit::ir
