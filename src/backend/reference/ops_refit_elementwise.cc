// refit.FusedElementwise (ir/fused_elementwise.h): the program run element by element over the
// numpy broadcast of the inputs, each instruction computed in the element type's ComputeType and
// rounded to the element type exactly where the unfused operators would round.
#include <limits>
#include <vector>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "ir/fused_elementwise.h"
#include "ir/fused_ops.h"

namespace refit::reference {
namespace {

Status FusedElementwise(KernelContext& ctx) {
  auto program = ir::GetEwProgram(ctx.node);
  if (!program.ok()) return program.status();
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    REFIT_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequiredInput(i));
    ins.push_back(t);
  }
  if (ins.empty()) return ctx.Error("expected at least one input");
  const DataType dtype = ins[0]->dtype();
  if (dtype != DataType::kF32 && dtype != DataType::kF64) {
    return DtypeError(ctx, 0, dtype, "f32 or f64");
  }
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, ins.size(), dtype));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, ins));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, dtype, shape));
  const ir::EwProgram& p = *program;
  return DispatchFloat(dtype, [&]<typename T>() {
    using C = ComputeType<T>;
    std::vector<const T*> data;
    for (const Tensor* t : ins) data.push_back(t->data_as<T>());
    T* po = out->mutable_data_as<T>();
    std::vector<C> values(size_t(p.num_values()));
    for (size_t k = 0; k < p.constants.size(); ++k)
      values[size_t(p.ConstId(k))] = C(p.constants[k]);
    const C inf = std::numeric_limits<C>::infinity();
    ForEachElement(shape, ins, [&](int64_t i, const int64_t* off) {
      for (size_t k = 0; k < data.size(); ++k) values[k] = C(data[k][off[k]]);
      for (size_t k = 0; k < p.code.size(); ++k) {
        const ir::EwInstr& in = p.code[k];
        const C a = values[size_t(in.a)];
        const C b = in.b >= 0 ? values[size_t(in.b)] : -inf;
        const C c = in.c >= 0 ? values[size_t(in.c)] : inf;
        // T(...) rounds each intermediate as the unfused graph stores it.
        values[size_t(p.ResultId(k))] = C(T(ir::EwApply<C>(in.op, a, b, c)));
      }
      po[i] = T(values.back());
    });
  });
}

}  // namespace

void RegisterRefitElementwiseOps(KernelRegistry& r) {
  r.Register(ir::kRefitDomain, ir::kFusedElementwiseOp, &FusedElementwise, 0);
}

}  // namespace refit::reference
