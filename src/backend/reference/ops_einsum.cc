// Einsum: any number of operands, implicit or explicit output, repeated labels (diagonals) and
// ellipsis broadcasting, computed by looping over every assignment of every label. Simple and
// slow; the reference only needs to be right.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

// Labels: 'A'-'Z' are 0-25 and 'a'-'z' 26-51 (so sorting ids sorts letters as numpy does);
// ellipsis dim j (counted over the widest ellipsis, right-aligned) is kEllipsis + j.
constexpr int kEllipsis = 52;
constexpr int kNoLabel = -1;

int LetterLabel(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return 26 + (ch - 'a');
  return kNoLabel;
}

// One side of the equation for one operand: its letters, with kEllipsis marking where "..." is.
StatusOr<std::vector<int>> ParseTerm(const std::string& term) {
  std::vector<int> labels;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term.compare(i, 3, "...") == 0) {
      if (ellipsis) return InvalidArgument("term '" + term + "' has two ellipses");
      ellipsis = true;
      labels.push_back(kEllipsis);
      i += 2;
    } else if (int l = LetterLabel(term[i]); l != kNoLabel) {
      labels.push_back(l);
    } else {
      return InvalidArgument("term '" + term + "' has the invalid character '" +
                             std::string(1, term[i]) + "'");
    }
  }
  return labels;
}

// Replaces the kEllipsis marker by `dims` ellipsis labels, right-aligned within `width`.
std::vector<int> ExpandEllipsis(const std::vector<int>& term, int64_t dims, int64_t width) {
  std::vector<int> out;
  for (int l : term) {
    if (l != kEllipsis) {
      out.push_back(l);
      continue;
    }
    for (int64_t j = 0; j < dims; ++j) out.push_back(kEllipsis + int(width - dims + j));
  }
  return out;
}

struct EinsumPlan {
  std::vector<int> out_labels, sum_labels;
  std::vector<int64_t> size;                  // per label id
  std::vector<std::vector<int64_t>> strides;  // per operand, per label id (0 when unused)
};

StatusOr<EinsumPlan> PlanEinsum(const KernelContext& ctx, std::string eq) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::vector<int>> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    REFIT_ASSIGN_OR_RETURN(std::vector<int> t, ParseTerm(lhs.substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.num_inputs()) {
    return InvalidArgument("equation has " + std::to_string(terms.size()) + " operands, node has " +
                           std::to_string(ctx.num_inputs()) + " inputs");
  }
  // Ellipsis width: the most dims any operand's "..." covers.
  std::vector<int64_t> ell_dims(terms.size(), 0);
  int64_t width = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    REFIT_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequiredInput(k));
    const int64_t letters =
        std::count_if(terms[k].begin(), terms[k].end(), [](int l) { return l != kEllipsis; });
    const bool has_ell = letters != int64_t(terms[k].size());
    const int64_t rank = int64_t(t->shape().rank());
    if (has_ell ? rank < letters : rank != letters) {
      return InvalidArgument("operand " + std::to_string(k) + " of shape " + t->shape().ToString() +
                             " does not fit its term of " + std::to_string(letters) + " letters");
    }
    ell_dims[k] = rank - letters;
    width = std::max(width, ell_dims[k]);
  }
  EinsumPlan plan;
  const size_t num_labels = size_t(kEllipsis + width);
  plan.size.assign(num_labels, -1);
  plan.strides.assign(terms.size(), std::vector<int64_t>(num_labels, 0));
  std::vector<int> count(num_labels, 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    const Shape& s = ctx.inputs[k]->shape();
    const std::vector<int64_t> st = s.Strides();
    const std::vector<int> labels = ExpandEllipsis(terms[k], ell_dims[k], width);
    for (size_t ax = 0; ax < labels.size(); ++ax) {
      const int l = labels[ax];
      ++count[size_t(l)];
      int64_t& size = plan.size[size_t(l)];
      // A dim of 1 broadcasts against the label's size in other operands.
      if (size == -1 || size == 1) {
        size = s[ax];
      } else if (s[ax] != size && s[ax] != 1) {
        return InvalidArgument("label size mismatch: operand " + std::to_string(k) + " " +
                               s.ToString() + " axis " + std::to_string(ax) + " has " +
                               std::to_string(s[ax]) + ", elsewhere " + std::to_string(size));
      }
      if (s[ax] != 1) plan.strides[k][size_t(l)] += st[ax];
    }
  }
  if (arrow != std::string::npos) {
    REFIT_ASSIGN_OR_RETURN(std::vector<int> out, ParseTerm(eq.substr(arrow + 2)));
    plan.out_labels = ExpandEllipsis(out, width, width);
  } else {
    // Implicit output: the ellipsis dims, then the letters used once, in alphabetical order.
    for (int64_t j = 0; j < width; ++j) plan.out_labels.push_back(kEllipsis + int(j));
    for (int l = 0; l < kEllipsis; ++l) {
      if (count[size_t(l)] == 1) plan.out_labels.push_back(l);
    }
  }
  std::vector<bool> in_out(num_labels, false);
  for (int l : plan.out_labels) {
    if (plan.size[size_t(l)] == -1 || in_out[size_t(l)]) {
      return InvalidArgument("output label of '" + eq + "' is repeated or not in any input");
    }
    in_out[size_t(l)] = true;
  }
  for (size_t l = 0; l < num_labels; ++l) {
    if (plan.size[l] != -1 && !in_out[l]) plan.sum_labels.push_back(int(l));
  }
  return plan;
}

// Odometer over `labels`: advances idx and every operand offset; false after the last one.
bool Advance(const std::vector<int>& labels, const EinsumPlan& plan, std::vector<int64_t>& idx,
             std::vector<int64_t>& offsets) {
  for (size_t i = labels.size(); i-- > 0;) {
    const size_t l = size_t(labels[i]);
    if (++idx[i] < plan.size[l]) {
      for (size_t k = 0; k < offsets.size(); ++k) offsets[k] += plan.strides[k][l];
      return true;
    }
    for (size_t k = 0; k < offsets.size(); ++k) offsets[k] -= plan.strides[k][l] * (idx[i] - 1);
    idx[i] = 0;
  }
  return false;
}

}  // namespace

Status EinsumKernel(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(std::string eq, ctx.attrs().GetString("equation", ""));
  if (ctx.num_inputs() == 0) return ctx.Error("expected at least one input");
  for (size_t k = 0; k < ctx.num_inputs(); ++k) {
    REFIT_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequiredInput(k));
    if (t->dtype() != ctx.inputs[0]->dtype()) {
      return ctx.Error("all inputs must share one dtype, input " + std::to_string(k) + " is " +
                       std::string(DataTypeName(t->dtype())));
    }
  }
  StatusOr<EinsumPlan> planned = PlanEinsum(ctx, eq);
  if (!planned.ok()) return ctx.Error("equation '" + eq + "': " + planned.status().message());
  const EinsumPlan& plan = *planned;
  std::vector<int64_t> out_dims;
  for (int l : plan.out_labels) out_dims.push_back(plan.size[size_t(l)]);
  REFIT_ASSIGN_OR_RETURN(Tensor * y,
                         ctx.AllocateOutput(0, ctx.inputs[0]->dtype(), Shape(out_dims)));
  bool empty_sum = false;
  for (int l : plan.sum_labels) empty_sum = empty_sum || plan.size[size_t(l)] == 0;
  const size_t operands = ctx.num_inputs();
  return DispatchNumeric(y->dtype(), [&]<typename T>() {
    using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    T* out = y->mutable_data_as<T>();
    const int64_t n = y->NumElements();
    std::vector<int64_t> out_idx(plan.out_labels.size(), 0), base(operands, 0);
    for (int64_t o = 0; o < n; ++o) {
      Acc acc = 0;
      std::vector<int64_t> sum_idx(plan.sum_labels.size(), 0), off = base;
      do {
        if (empty_sum) break;
        Acc prod = 1;
        for (size_t k = 0; k < operands; ++k) prod *= Acc(ctx.inputs[k]->data_as<T>()[off[k]]);
        acc += prod;
      } while (Advance(plan.sum_labels, plan, sum_idx, off));
      if constexpr (std::is_arithmetic_v<T>) {
        out[o] = T(acc);
      } else {
        out[o] = T(float(acc));
      }
      Advance(plan.out_labels, plan, out_idx, base);
    }
  });
}

}  // namespace refit::reference
