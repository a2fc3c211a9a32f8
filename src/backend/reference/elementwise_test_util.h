// Test helpers for the element-wise kernel tests: run one operator through the default registry
// and read results back as doubles.
#pragma once

#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "ir/attribute.h"
#include "refit/tensor.h"

namespace refit::reference::ew_test {

inline ir::Attribute MakeIntAttr(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline ir::Attribute MakeFloatAttr(float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
inline ir::Attribute MakeStringAttr(std::string v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

// Runs `op` at `opset` on `inputs` (nullptr = absent optional input) with `num_outputs` outputs.
inline StatusOr<std::vector<Tensor>> RunOp(const std::string& op,
                                           const std::vector<const Tensor*>& inputs,
                                           const ir::AttributeMap& attrs = {},
                                           size_t num_outputs = 1, int64_t opset = 17) {
  ir::Node node;
  node.name = "test_" + op;
  node.op_type = op;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i] ? "in" + std::to_string(i) : "");
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  KernelFn fn = KernelRegistry::Default().Find(op, "", opset);
  if (fn == nullptr) return NotFound("no kernel for " + op);
  KernelContext ctx{node, opset, inputs, {}, nullptr};
  ctx.outputs.resize(num_outputs);
  REFIT_RETURN_IF_ERROR(fn(ctx));
  return std::move(ctx.outputs);
}

// Single-output convenience: the output, or the error.
inline StatusOr<Tensor> Run1(const std::string& op, const std::vector<const Tensor*>& inputs,
                             const ir::AttributeMap& attrs = {}, int64_t opset = 17) {
  REFIT_ASSIGN_OR_RETURN(std::vector<Tensor> outs, RunOp(op, inputs, attrs, 1, opset));
  return std::move(outs[0]);
}

inline std::vector<double> ToDoubles(const Tensor& t) {
  std::vector<double> v(size_t(t.NumElements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = ReadScalarAsDouble(t, int64_t(i));
  return v;
}

}  // namespace refit::reference::ew_test
