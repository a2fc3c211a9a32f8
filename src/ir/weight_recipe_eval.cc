// WeightRecipe::Evaluate: the only code that computes a derived weight's value. Scalar, simple
// loops in a fixed order, so the result depends on nothing but the source bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

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

// dst[j * rows + i] = src[i * cols + j] for 4-byte elements: a tied LM head's embedding table is
// transposed on every refit. Tiles of 64 source rows by 16 source columns (one cache line of each
// source row, read once), written as two halves of 8 destination rows: the destination rows of a
// tile are a power of two apart for the usual sizes, and more than 8 of them would evict each
// other from one cache set (32x32 tiles ran at 2 GB/s). 4x4 SSE transposes where the ISA has them.
void TransposeTiled(const uint32_t* src, int64_t rows, int64_t cols, uint32_t* dst) {
  constexpr int64_t kTileI = 64, kTileJ = 16, kHalf = 8;
  for (int64_t j0 = 0; j0 < cols; j0 += kTileJ) {
    for (int64_t i0 = 0; i0 < rows; i0 += kTileI) {
      const int64_t i1 = std::min(rows, i0 + kTileI);
      for (int64_t h0 = j0; h0 < std::min(cols, j0 + kTileJ); h0 += kHalf) {
        const int64_t h1 = std::min(cols, h0 + kHalf);
        int64_t i = i0;
#if defined(__SSE2__)
        for (; i + 4 <= i1; i += 4) {
          int64_t j = h0;
          for (; j + 4 <= h1; j += 4) {
            __m128 r0 = _mm_loadu_ps(reinterpret_cast<const float*>(src + i * cols + j));
            __m128 r1 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (i + 1) * cols + j));
            __m128 r2 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (i + 2) * cols + j));
            __m128 r3 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (i + 3) * cols + j));
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float* d = reinterpret_cast<float*>(dst + j * rows + i);
            _mm_storeu_ps(d, r0);
            _mm_storeu_ps(d + rows, r1);
            _mm_storeu_ps(d + 2 * rows, r2);
            _mm_storeu_ps(d + 3 * rows, r3);
          }
          for (; j < h1; ++j) {
            for (int64_t ii = i; ii < i + 4; ++ii) dst[j * rows + ii] = src[ii * cols + j];
          }
        }
#endif
        for (; i < i1; ++i) {
          for (int64_t j = h0; j < h1; ++j) dst[j * rows + i] = src[i * cols + j];
        }
      }
    }
  }
}

StatusOr<Tensor> Transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& in = x.shape();
  std::vector<int64_t> out_dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_dims[i] = in[size_t(perm[i])];
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(x.dtype(), Shape(out_dims)));
  const size_t esz = DataTypeSize(x.dtype());
  // The common case, a matrix (or a batch of them) transposed, in cache-sized tiles.
  const size_t r = perm.size();
  bool swap_last2 =
      r >= 2 && esz == 4 && perm[r - 1] == int64_t(r - 2) && perm[r - 2] == int64_t(r - 1);
  for (size_t i = 0; i + 2 < r && swap_last2; ++i) swap_last2 = perm[i] == int64_t(i);
  if (swap_last2) {
    const int64_t rows = in[r - 2], cols = in[r - 1];
    const int64_t batch = rows * cols == 0 ? 0 : x.NumElements() / (rows * cols);
    const uint32_t* src = static_cast<const uint32_t*>(x.data());
    uint32_t* dst = static_cast<uint32_t*>(out.mutable_data());
    for (int64_t b = 0; b < batch; ++b) {
      TransposeTiled(src + b * rows * cols, rows, cols, dst + b * rows * cols);
    }
    return out;
  }
  const std::vector<int64_t> in_strides = in.Strides();
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

// x broadcast to `dims` (InferType checked that it broadcasts): the trailing dimensions x has in
// full are one block, copied whole for every index of the dimensions before it.
StatusOr<Tensor> Expand(const Tensor& x, const std::vector<int64_t>& dims) {
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(x.dtype(), Shape(dims)));
  const size_t rank = dims.size(), pad = rank - x.shape().rank();
  std::vector<int64_t> in_dims(rank, 1);
  for (size_t d = pad; d < rank; ++d) in_dims[d] = x.shape()[d - pad];
  size_t split = rank;  // dims [split, rank) are copied as one block
  while (split > 0 && in_dims[split - 1] == dims[split - 1]) --split;
  size_t block = DataTypeSize(x.dtype());
  for (size_t d = split; d < rank; ++d) block *= size_t(dims[d]);
  std::vector<int64_t> in_strides(rank, 0);  // in blocks; 0 along a broadcast dimension
  int64_t stride = 1;
  for (size_t d = split; d-- > 0;) {
    in_strides[d] = in_dims[d] == 1 ? 0 : stride;
    stride *= in_dims[d];
  }
  const int64_t blocks = block == 0 ? 0 : int64_t(out.nbytes() / block);
  const char* src = static_cast<const char*>(x.data());
  char* dst = static_cast<char*>(out.mutable_data());
  std::vector<int64_t> idx(split, 0);
  int64_t from = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    std::memcpy(dst + size_t(b) * block, src + size_t(from) * block, block);
    for (size_t d = split; d-- > 0;) {
      from += in_strides[d];
      if (++idx[d] < dims[d]) break;
      from -= in_strides[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

// Elements [start, end) of `axis` (InferType checked the range): one block per index of the axes
// before it.
StatusOr<Tensor> Slice(const Tensor& x, int64_t axis, int64_t start, int64_t end) {
  std::vector<int64_t> dims = x.shape().dims();
  const int64_t dim = dims[size_t(axis)];
  dims[size_t(axis)] = end - start;
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(x.dtype(), Shape(dims)));
  size_t inner = DataTypeSize(x.dtype());
  int64_t outer = 1;
  for (size_t d = 0; d < size_t(axis); ++d) outer *= dims[d];
  for (size_t d = size_t(axis) + 1; d < dims.size(); ++d) inner *= size_t(dims[d]);
  const char* src = static_cast<const char*>(x.data());
  char* dst = static_cast<char*>(out.mutable_data());
  const size_t block = inner * size_t(end - start);
  for (int64_t o = 0; o < outer && block > 0; ++o) {
    std::memcpy(dst + size_t(o) * block, src + (size_t(o * dim) + size_t(start)) * inner, block);
  }
  return out;
}

StatusOr<Tensor> Concat(const std::vector<const Tensor*>& xs, int64_t axis) {
  const Tensor& first = *xs[0];
  std::vector<int64_t> dims = first.shape().dims();
  dims[size_t(axis)] = 0;
  for (const Tensor* x : xs) dims[size_t(axis)] += x->shape()[size_t(axis)];
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(first.dtype(), Shape(dims)));
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

// Exponent bits all ones (NaN or infinity) once the sign is dropped: adding one exponent step
// carries into the sign bit exactly for those, so an OR over a block tells whether any is bad
// (vectorises with plain SSE2, fused into the loops that write the values).
inline uint32_t NonFiniteBit(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return ((bits & 0x7fffffffu) + 0x00800000u) & 0x80000000u;
}

Status NotFinite(const char* what) {
  return InvalidArgument(std::string(what) +
                         " gives a value that is not finite (NaN or overflow): check the source "
                         "weights (a BatchNorm variance of -eps, huge values)");
}

StatusOr<Tensor> BnScale(const Tensor& w, const float* gamma, const float* var, float eps,
                         int64_t axis) {
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(DataType::kF32, w.shape()));
  const int64_t c = w.shape()[size_t(axis)];
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < size_t(axis); ++d) outer *= w.shape()[d];
  for (size_t d = size_t(axis) + 1; d < w.shape().rank(); ++d) inner *= w.shape()[d];
  const float* x = w.data_as<float>();
  float* y = out.mutable_data_as<float>();
  uint32_t bad = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float f = BnScaleFactor(gamma[ch], var[ch], eps);
      const int64_t base = (o * c + ch) * inner;
      for (int64_t k = 0; k < inner; ++k) {
        y[base + k] = x[base + k] * f;
        bad |= NonFiniteBit(y[base + k]);
      }
    }
  }
  if (bad) return NotFinite("bn_scale");
  return out;
}

// `b` may be null (no bias before the BN).
StatusOr<Tensor> BnBias(const Tensor* b, const Tensor& gamma, const float* beta, const float* mean,
                        const float* var, float eps) {
  const int64_t c = gamma.NumElements();
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(DataType::kF32, Shape({c})));
  const float* bias = b ? b->data_as<float>() : nullptr;
  const float* g = gamma.data_as<float>();
  float* y = out.mutable_data_as<float>();
  uint32_t bad = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    y[ch] = ((bias ? bias[ch] : 0.f) - mean[ch]) * BnScaleFactor(g[ch], var[ch], eps) + beta[ch];
    bad |= NonFiniteBit(y[ch]);
  }
  if (bad) return NotFinite("bn_bias");
  return out;
}

}  // namespace

float BnScaleFactor(float gamma, float var, float eps) { return gamma / std::sqrt(var + eps); }

StatusOr<Tensor> WeightRecipe::Evaluate(const Lookup& lookup) const {
  // Each source is looked up once, so the checks and the computation see the same tensors.
  std::vector<const Tensor*> looked_up(sources_.size());
  for (size_t k = 0; k < sources_.size(); ++k) looked_up[k] = lookup(sources_[k]);
  return EvaluateOver(looked_up, /*types_checked=*/false);
}

StatusOr<Tensor> WeightRecipe::EvaluateOver(const std::vector<const Tensor*>& looked_up,
                                            bool types_checked) const {
  if (looked_up.size() != sources_.size()) {
    return InvalidArgument("weight recipe: " + std::to_string(looked_up.size()) +
                           " source tensors given for " + std::to_string(sources_.size()) +
                           " sources");
  }
  // (A few names each: a linear search beats a map.)
  auto source = [&](const std::string& name) {
    const size_t k = size_t(std::find(sources_.begin(), sources_.end(), name) - sources_.begin());
    return k < looked_up.size() ? looked_up[k] : nullptr;
  };
  // All shape and dtype checks happen here, before any value is touched.
  if (!types_checked) {
    auto type_of = [&](const std::string& name) -> std::optional<TensorType> {
      const Tensor* t = source(name);
      if (t == nullptr) return std::nullopt;
      return TensorType{t->dtype(), t->shape()};
    };
    REFIT_RETURN_IF_ERROR(InferType(type_of).status());
  }
  std::vector<Tensor> owned(steps_.size());
  std::vector<const Tensor*> val(steps_.size(), nullptr);
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    if (s.op == Op::kSource) {
      val[i] = source(s.source);
      continue;
    }
    std::vector<const Tensor*> in;
    for (int32_t a : s.args) in.push_back(a < 0 ? nullptr : val[size_t(a)]);
    StatusOr<Tensor> r = Internal("unhandled step kind");
    switch (s.op) {
      case Op::kTranspose:
        r = Transpose(*in[0], s.ints);
        break;
      case Op::kReshape:
        r = Tensor::CopyOf(TensorView(in[0]->dtype(), Shape(s.ints), in[0]->data()));
        break;
      case Op::kCast:
        r = Tensor::Uninitialized(s.dtype, in[0]->shape());
        if (!r.ok()) break;
        for (int64_t e = 0; e < in[0]->NumElements(); ++e) {
          const double v = LoadFloat(in[0]->dtype(), in[0]->data(), e);
          StoreFloat(s.dtype, r->mutable_data(), e, v);
          // A narrower type can overflow a finite value (70000 in f16).
          if (std::isfinite(v) && !std::isfinite(LoadFloat(s.dtype, r->data(), e))) {
            r = InvalidArgument("cast to " + std::string(DataTypeName(s.dtype)) + ": " +
                                std::to_string(v) + " (element " + std::to_string(e) +
                                ") overflows it");
            break;
          }
        }
        break;
      case Op::kBnScale:
        r = BnScale(*in[0], in[1]->data_as<float>(), in[2]->data_as<float>(), s.eps, s.axis);
        break;
      case Op::kBnBias:
        r = BnBias(in[0], *in[1], in[2]->data_as<float>(), in[3]->data_as<float>(),
                   in[4]->data_as<float>(), s.eps);
        break;
      case Op::kConcat:
        r = Concat(in, s.axis);
        break;
      case Op::kExpand:
        r = Expand(*in[0], s.ints);
        break;
      case Op::kSlice:
        r = Slice(*in[0], s.axis, s.ints[0], s.ints[1]);
        break;
      default:
        break;
    }
    if (!r.ok()) {
      return r.status().WithContext("weight recipe step " + std::to_string(i) + " (" +
                                    std::string(RecipeOpName(s.op)) + ")");
    }
    owned[i] = std::move(r).value();
    val[i] = &owned[i];
  }
  if (steps_.back().op == Op::kSource) return val.back()->Clone();
  return std::move(owned.back());
}

}  // namespace refit::ir
