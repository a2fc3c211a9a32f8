// MatMul (numpy semantics) and Gemm on the shared reference GEMM; Einsum lives in ops_einsum.cc.
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/conv_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_gemm.h"

namespace refit::reference {

Status EinsumKernel(KernelContext& ctx);  // ops_einsum.cc

namespace {

// Float types compute in ComputeType<T>; the integer types RefGemm supports compute as themselves.
template <typename F>
Status DispatchGemmTypes(DataType dtype, F&& f) {
  switch (dtype) {
    case DataType::kI32:
      f.template operator()<int32_t>();
      return Status::Ok();
    case DataType::kI64:
      f.template operator()<int64_t>();
      return Status::Ok();
    default:
      return DispatchFloat(dtype, f);
  }
}

template <typename T>
using GemmType = std::conditional_t<std::is_integral_v<T>, T, ComputeType<T>>;

Status MatMul(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  if (a->dtype() != b->dtype()) {
    return ctx.Error("A and B must share one dtype, found " +
                     std::string(DataTypeName(a->dtype())) + " and " +
                     std::string(DataTypeName(b->dtype())));
  }
  std::vector<int64_t> ad = a->shape().dims(), bd = b->shape().dims();
  if (ad.empty() || bd.empty()) {
    return ctx.Error("MatMul needs operands of rank >= 1, found A " + a->shape().ToString() +
                     " and B " + b->shape().ToString());
  }
  // numpy: a 1-D A is a row vector, a 1-D B a column vector; the added dim is dropped again.
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  if (bd[bd.size() - 2] != k) {
    return ctx.Error("inner dimensions differ: A " + a->shape().ToString() + ", B " +
                     b->shape().ToString());
  }
  const Shape a_batch(std::vector<int64_t>(ad.begin(), ad.end() - 2));
  const Shape b_batch(std::vector<int64_t>(bd.begin(), bd.end() - 2));
  StatusOr<Shape> batch = BroadcastShapes(a_batch, b_batch);
  if (!batch.ok()) return ctx.Error(batch.status().message());
  std::vector<int64_t> out_dims = batch->dims();
  if (!a_vec) out_dims.push_back(m);
  if (!b_vec) out_dims.push_back(n);
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, a->dtype(), Shape(out_dims)));
  std::vector<std::pair<int64_t, int64_t>> pairs;  // (A, B) matrix index per output matrix
  ForEachBroadcast(*batch, {a_batch, b_batch},
                   [&](int64_t, const int64_t* off) { pairs.emplace_back(off[0], off[1]); });
  return DispatchGemmTypes(a->dtype(), [&]<typename T>() {
    using Acc = GemmType<T>;
    std::vector<Acc> abuf, bbuf, ybuf;
    const Acc* ap = ComputeData<T, Acc>(*a, abuf);
    const Acc* bp = ComputeData<T, Acc>(*b, bbuf);
    Acc* yp = ResultBuffer<T, Acc>(*y, ybuf);
    auto one = [&](size_t i, ThreadPool* pool) {
      RefGemm(pool, false, false, m, n, k, ap + pairs[i].first * m * k,
              bp + pairs[i].second * k * n, yp + int64_t(i) * m * n);
    };
    // Many small matrices (attention heads) parallelise better across the batch.
    if (pairs.size() > 1 && ctx.pool != nullptr) {
      ParallelFor(ctx.pool, int64_t(pairs.size()), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) one(size_t(i), nullptr);
      });
    } else {
      for (size_t i = 0; i < pairs.size(); ++i) one(i, ctx.pool);
    }
    StoreResult<T, Acc>(*y, ybuf);
  });
}

Status Gemm(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  const Tensor* c = ctx.input(2);
  REFIT_ASSIGN_OR_RETURN(int64_t trans_a, ctx.attrs().GetInt("transA", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t trans_b, ctx.attrs().GetInt("transB", 0));
  REFIT_ASSIGN_OR_RETURN(float alpha, ctx.attrs().GetFloat("alpha", 1.0f));
  REFIT_ASSIGN_OR_RETURN(float beta, ctx.attrs().GetFloat("beta", 1.0f));
  const Shape& as = a->shape();
  const Shape& bs = b->shape();
  if (as.rank() != 2 || bs.rank() != 2) {
    return ctx.Error("expected 2-D A and B, found " + as.ToString() + " and " + bs.ToString());
  }
  if (a->dtype() != b->dtype() || (c != nullptr && c->dtype() != a->dtype())) {
    return ctx.Error("A, B and C must share one dtype, found A " +
                     std::string(DataTypeName(a->dtype())) + ", B " +
                     std::string(DataTypeName(b->dtype())));
  }
  const int64_t m = trans_a ? as[1] : as[0], k = trans_a ? as[0] : as[1];
  const int64_t n = trans_b ? bs[0] : bs[1];
  if ((trans_b ? bs[1] : bs[0]) != k) {
    return ctx.Error("inner dimensions differ: A " + as.ToString() + (trans_a ? "^T" : "") +
                     ", B " + bs.ToString() + (trans_b ? "^T" : ""));
  }
  // C broadcasts one way to [M, N]: a dim of 1 (or a missing one) repeats.
  int64_t c_row_stride = 0, c_col_stride = 0;
  if (c != nullptr) {
    const Shape& cs = c->shape();
    const int64_t c_rows = cs.rank() == 2 ? cs[0] : 1;
    const int64_t c_cols = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
    if (cs.rank() > 2 || (c_rows != 1 && c_rows != m) || (c_cols != 1 && c_cols != n)) {
      return ctx.Error("C " + cs.ToString() + " does not broadcast to [" + std::to_string(m) + "," +
                       std::to_string(n) + "]");
    }
    c_col_stride = c_cols == 1 ? 0 : 1;
    c_row_stride = c_rows == 1 ? 0 : c_cols;
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, a->dtype(), Shape({m, n})));
  return DispatchGemmTypes(a->dtype(), [&]<typename T>() {
    using Acc = GemmType<T>;
    std::vector<Acc> abuf, bbuf, cbuf, ybuf;
    Acc* yp = ResultBuffer<T, Acc>(*y, ybuf);
    RefGemm(ctx.pool, trans_a != 0, trans_b != 0, m, n, k, ComputeData<T, Acc>(*a, abuf),
            ComputeData<T, Acc>(*b, bbuf), yp);
    const Acc* cp = c != nullptr ? ComputeData<T, Acc>(*c, cbuf) : nullptr;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        // Integer Gemm scales in double so that a fractional alpha or beta is not truncated.
        using Scale = std::conditional_t<std::is_integral_v<Acc>, double, Acc>;
        Scale v = Scale(alpha) * Scale(yp[i * n + j]);
        if (cp != nullptr) v += Scale(beta) * Scale(cp[i * c_row_stride + j * c_col_stride]);
        yp[i * n + j] = Acc(v);
      }
    }
    StoreResult<T, Acc>(*y, ybuf);
  });
}

}  // namespace

void RegisterMatMulOps(KernelRegistry& r) {
  r.Register("MatMul", &MatMul);
  r.Register("Gemm", &Gemm);
  r.Register("Einsum", &EinsumKernel);
}

}  // namespace refit::reference
