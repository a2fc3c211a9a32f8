// refit.GroupNorm: what PyTorch's GroupNorm export (Reshape -> InstanceNormalization -> Reshape ->
// Mul gamma -> Add beta) computes, as one node (passes/fuse_layernorm.cc).
// Inputs: X [N, C, ...], in_scale and in_bias (num_groups elements: the InstanceNormalization's),
// gamma and beta (C elements, any shape). Attributes: num_groups, epsilon.
// y = ((x - mean_g) / sqrt(var_g + eps) * in_scale[g] + in_bias[g]) * gamma[c] + beta[c], with the
// biased mean and variance over each (n, group) slice, computed in double.
#include <cmath>
#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/reduce_util.h"
#include "ir/fused_ops.h"

namespace refit::reference {
namespace {

Status GroupNorm(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& shape = x->shape();
  REFIT_ASSIGN_OR_RETURN(int64_t groups, ctx.attrs().GetInt("num_groups", 0));
  REFIT_ASSIGN_OR_RETURN(float epsilon, ctx.attrs().GetFloat("epsilon", 1e-5f));
  if (shape.rank() < 2 || groups < 1 || shape[1] % groups != 0) {
    return ctx.Error("input shape " + shape.ToString() + " does not split into num_groups " +
                     std::to_string(groups));
  }
  const int64_t n = shape[0], channels = shape[1];
  int64_t inner = 1;
  for (size_t a = 2; a < shape.rank(); ++a) inner *= shape[a];
  REFIT_ASSIGN_OR_RETURN(std::vector<double> in_scale, ReadParam(ctx, 1, "in_scale", groups));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> in_bias, ReadParam(ctx, 2, "in_bias", groups));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> gamma, ReadParam(ctx, 3, "gamma", channels));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> beta, ReadParam(ctx, 4, "beta", channels));
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), shape));
  const int64_t per_group = channels / groups;
  const int64_t size = per_group * inner;
  Status st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* out = y->mutable_data_as<T>();
    ParallelFor(ctx.pool, n * groups, [&](int64_t begin, int64_t end) {
      for (int64_t ng = begin; ng < end; ++ng) {
        const int64_t g = ng % groups;
        const T* p = in + ng * size;
        double sum = 0;
        for (int64_t k = 0; k < size; ++k) sum += double(p[k]);
        const double mean = sum / double(size);
        double ss = 0;
        for (int64_t k = 0; k < size; ++k) ss += (double(p[k]) - mean) * (double(p[k]) - mean);
        const double a = in_scale[g] / std::sqrt(ss / double(size) + double(epsilon));
        for (int64_t j = 0; j < per_group; ++j) {
          const int64_t c = g * per_group + j;
          for (int64_t k = 0; k < inner; ++k) {
            const int64_t i = ng * size + j * inner + k;
            const double t = (double(in[i]) - mean) * a + in_bias[g];
            out[i] = FromDouble<T>(t * gamma[c] + beta[c]);
          }
        }
      }
    });
  });
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

}  // namespace

void RegisterRefitNormOps(KernelRegistry& r) {
  r.Register(ir::kRefitDomain, "GroupNorm", &GroupNorm, 0);
}

}  // namespace refit::reference
