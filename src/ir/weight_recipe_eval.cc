// WeightRecipe::Evaluate: the only code that computes a derived weight's value. Scalar, simple
// loops in a fixed order, so the result depends on nothing but the source bytes.
#include <cmath>
#include <cstring>

#include "ir/weight_recipe.h"

namespace refit::ir {
namespace {

using Step = WeightRecipe::Step;

template <typename T>
double LoadAs(const void* p, int64_t i) {
  return double(static_cast<const T*>(p)[i]);
}

double LoadFloat(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kF16:
      return LoadAs<Half>(p, i);
    case DataType::kBF16:
      return LoadAs<BFloat16>(p, i);
    case DataType::kF64:
      return LoadAs<double>(p, i);
    default:
      return LoadAs<float>(p, i);
  }
}

void StoreFloat(DataType t, void* p, int64_t i, double v) {
  switch (t) {
    case DataType::kF16:
      static_cast<Half*>(p)[i] = Half(float(v));
      break;
    case DataType::kBF16:
      static_cast<BFloat16*>(p)[i] = BFloat16(float(v));
      break;
    case DataType::kF64:
      static_cast<double*>(p)[i] = v;
      break;
    default:
      static_cast<float*>(p)[i] = float(v);
      break;
  }
}

bool IsFloatType(DataType t) {
  return t == DataType::kF32 || t == DataType::kF16 || t == DataType::kBF16 || t == DataType::kF64;
}

StatusOr<Tensor> Transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& in = x.shape();
  if (perm.size() != in.rank()) {
    return InvalidArgument("permutation of rank " + std::to_string(perm.size()) +
                           " for a tensor of shape " + in.ToString());
  }
  std::vector<int64_t> out_dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_dims[i] = in[size_t(perm[i])];
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(x.dtype(), Shape(out_dims)));
  const std::vector<int64_t> in_strides = in.Strides();
  const size_t esz = DataTypeSize(x.dtype());
  const char* src = static_cast<const char*>(x.data());
  char* dst = static_cast<char*>(out.mutable_data());
  std::vector<int64_t> idx(perm.size(), 0);
  for (int64_t o = 0; o < out.NumElements(); ++o) {
    int64_t off = 0;
    for (size_t d = 0; d < perm.size(); ++d) off += idx[d] * in_strides[size_t(perm[d])];
    std::memcpy(dst + size_t(o) * esz, src + size_t(off) * esz, esz);
    for (size_t d = perm.size(); d-- > 0;) {
      if (++idx[d] < out_dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

StatusOr<Tensor> Concat(const std::vector<const Tensor*>& xs, int64_t axis) {
  const Tensor& first = *xs[0];
  const size_t rank = first.shape().rank();
  if (size_t(axis) >= rank) {
    return InvalidArgument("axis " + std::to_string(axis) + " out of range for input 0 of shape " +
                           first.shape().ToString());
  }
  std::vector<int64_t> dims = first.shape().dims();
  dims[size_t(axis)] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Shape& s = xs[k]->shape();
    bool ok = xs[k]->dtype() == first.dtype() && s.rank() == rank;
    for (size_t d = 0; ok && d < rank; ++d) ok = d == size_t(axis) || s[d] == first.shape()[d];
    if (!ok) {
      return InvalidArgument("input " + std::to_string(k) + " has shape " + s.ToString() +
                             ", incompatible with input 0's " + first.shape().ToString());
    }
    dims[size_t(axis)] += s[size_t(axis)];
  }
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(first.dtype(), Shape(dims)));
  int64_t outer = 1;
  for (size_t d = 0; d < size_t(axis); ++d) outer *= dims[d];
  char* dst = static_cast<char*>(out.mutable_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor* x : xs) {
      const size_t block = x->nbytes() / size_t(outer == 0 ? 1 : outer);
      std::memcpy(dst, static_cast<const char*>(x->data()) + size_t(o) * block, block);
      dst += block;
    }
  }
  return out;
}

// gamma / sqrt(var + eps), per channel: the one formula BnScale and BnBias share.
float BnFactor(float gamma, float var, float eps) { return gamma / std::sqrt(var + eps); }

}  // namespace

StatusOr<Tensor> WeightRecipe::Evaluate(const Lookup& lookup) const {
  REFIT_RETURN_IF_ERROR(Validate());
  std::vector<Tensor> owned(steps_.size());
  std::vector<const Tensor*> val(steps_.size(), nullptr);
  // "'bn1.weight'" for a source argument, "step 3" otherwise: errors name the source weights.
  auto label = [&](int32_t a) {
    const Step& s = steps_[size_t(a)];
    return s.op == Op::kSource
               ? "'" + s.source + "' " + val[size_t(a)]->shape().ToString()
               : "step " + std::to_string(a) + " " + val[size_t(a)]->shape().ToString();
  };
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    const std::string where =
        "weight recipe step " + std::to_string(i) + " (" + std::string(RecipeOpName(s.op)) + ")";
    if (s.op == Op::kSource) {
      val[i] = lookup(s.source);
      if (val[i] == nullptr) return NotFound(where + ": source weight '" + s.source + "' missing");
      continue;
    }
    std::vector<const Tensor*> in;
    for (int32_t a : s.args) in.push_back(a < 0 ? nullptr : val[size_t(a)]);
    StatusOr<Tensor> r = InvalidArgument("unreachable");
    switch (s.op) {
      case Op::kTranspose:
        r = Transpose(*in[0], s.ints);
        break;
      case Op::kReshape: {
        auto n = CheckedNumElements(s.ints);
        if (!n.ok() || *n != in[0]->NumElements()) {
          r = InvalidArgument("cannot reshape " + label(s.args[0]) + " to " +
                              Shape(s.ints).ToString());
          break;
        }
        r = Tensor::CopyOf(TensorView(in[0]->dtype(), Shape(s.ints), in[0]->data()));
        break;
      }
      case Op::kCast: {
        if (!IsFloatType(in[0]->dtype())) {
          r = Unimplemented("cast from " + std::string(DataTypeName(in[0]->dtype())));
          break;
        }
        r = Tensor::Create(s.dtype, in[0]->shape());
        if (!r.ok()) break;
        for (int64_t e = 0; e < in[0]->NumElements(); ++e)
          StoreFloat(s.dtype, r->mutable_data(), e, LoadFloat(in[0]->dtype(), in[0]->data(), e));
        break;
      }
      case Op::kBnScale:
      case Op::kBnBias: {
        for (size_t a = 0; a < in.size(); ++a) {
          if (in[a] != nullptr && in[a]->dtype() != DataType::kF32) {
            return Unimplemented(where + ": " + label(s.args[a]) + " is " +
                                 std::string(DataTypeName(in[a]->dtype())) + ", only f32 folds");
          }
        }
        const bool scale = s.op == Op::kBnScale;
        const Tensor* w = in[0];
        if (scale && size_t(s.axis) >= w->shape().rank()) {
          return InvalidArgument(where + ": channel axis " + std::to_string(s.axis) +
                                 " out of range for " + label(s.args[0]));
        }
        const int64_t c = scale ? w->shape()[size_t(s.axis)] : in[1]->NumElements();
        for (size_t a = scale ? 1 : 0; a < in.size(); ++a) {
          if (in[a] != nullptr && in[a]->NumElements() != c) {
            return InvalidArgument(where + ": " + label(s.args[a]) + " has " +
                                   std::to_string(in[a]->NumElements()) + " elements, expected " +
                                   std::to_string(c) + " (one per channel)");
          }
        }
        const float* gamma = in[1]->data_as<float>();
        const float* var = in[scale ? 2 : 4]->data_as<float>();
        if (scale) {
          r = Tensor::Create(DataType::kF32, w->shape());
          if (!r.ok()) break;
          int64_t outer = 1, inner = 1;
          for (size_t d = 0; d < size_t(s.axis); ++d) outer *= w->shape()[d];
          for (size_t d = size_t(s.axis) + 1; d < w->shape().rank(); ++d) inner *= w->shape()[d];
          const float* x = w->data_as<float>();
          float* y = r->mutable_data_as<float>();
          for (int64_t o = 0; o < outer; ++o)
            for (int64_t ch = 0; ch < c; ++ch) {
              const float f = BnFactor(gamma[ch], var[ch], s.eps);
              const int64_t base = (o * c + ch) * inner;
              for (int64_t k = 0; k < inner; ++k) y[base + k] = x[base + k] * f;
            }
        } else {
          r = Tensor::Create(DataType::kF32, Shape({c}));
          if (!r.ok()) break;
          const float* b = w ? w->data_as<float>() : nullptr;
          const float* beta = in[2]->data_as<float>();
          const float* mean = in[3]->data_as<float>();
          float* y = r->mutable_data_as<float>();
          for (int64_t ch = 0; ch < c; ++ch) {
            y[ch] = ((b ? b[ch] : 0.f) - mean[ch]) * BnFactor(gamma[ch], var[ch], s.eps) + beta[ch];
          }
        }
        break;
      }
      case Op::kConcat:
        r = Concat(in, s.axis);
        break;
      default:
        break;
    }
    if (!r.ok()) return r.status().WithContext(where);
    owned[i] = std::move(r).value();
    val[i] = &owned[i];
  }
  if (steps_.back().op == Op::kSource) return val.back()->Clone();
  return std::move(owned.back());
}

}  // namespace refit::ir
