// WeightRecipe::InferType: every shape and dtype rule of the recipe steps, in one place. Evaluate
// runs it first, so the value loops in weight_recipe_eval.cc may assume consistent inputs, and
// passes can learn a derived weight's shape without computing it.
#include <algorithm>

#include "ir/weight_recipe.h"

namespace refit::ir {
namespace {

bool IsFloatType(DataType t) {
  return t == DataType::kF32 || t == DataType::kF16 || t == DataType::kBF16 || t == DataType::kF64;
}

}  // namespace

StatusOr<WeightRecipe::TensorType> WeightRecipe::InferType(const TypeLookup& lookup) const {
  REFIT_RETURN_IF_ERROR(Validate());
  std::vector<TensorType> types(steps_.size());
  // "'bn1.weight' [64]" for a source argument, "step 3 [64]" otherwise: errors name the sources.
  auto label = [&](int32_t a) {
    const Step& s = steps_[size_t(a)];
    return (s.op == Op::kSource ? "'" + s.source + "'" : "step " + std::to_string(a)) + " " +
           types[size_t(a)].shape.ToString();
  };
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    // Built only for an error: a refit infers the type of every recipe it evaluates.
    auto where = [&] {
      return "weight recipe step " + std::to_string(i) + " (" + std::string(RecipeOpName(s.op)) +
             "): ";
    };
    TensorType& out = types[i];
    if (s.op == Op::kSource) {
      std::optional<TensorType> t = lookup(s.source);
      if (!t) return NotFound(where() + "source weight '" + s.source + "' missing");
      out = *t;
      continue;
    }
    const TensorType& x = types[size_t(std::max(s.args[0], 0))];
    switch (s.op) {
      case Op::kTranspose: {
        if (s.ints.size() != x.shape.rank()) {
          return InvalidArgument(where() + "permutation of rank " + std::to_string(s.ints.size()) +
                                 " for " + label(s.args[0]));
        }
        std::vector<int64_t> dims(s.ints.size());
        for (size_t d = 0; d < dims.size(); ++d) dims[d] = x.shape[size_t(s.ints[d])];
        out = {x.dtype, Shape(dims)};
        break;
      }
      case Op::kReshape: {
        auto n = CheckedNumElements(s.ints);
        if (!n.ok() || *n != x.shape.NumElements()) {
          return InvalidArgument(where() + "cannot reshape " + label(s.args[0]) + " to " +
                                 Shape(s.ints).ToString());
        }
        out = {x.dtype, Shape(s.ints)};
        break;
      }
      case Op::kExpand: {
        const size_t rank = x.shape.rank();
        bool ok = s.ints.size() >= rank && CheckedNumElements(s.ints).ok();
        for (size_t d = 0; ok && d < rank; ++d) {
          const int64_t in = x.shape[rank - 1 - d], to = s.ints[s.ints.size() - 1 - d];
          ok = in == 1 || in == to;
        }
        if (!ok) {
          return InvalidArgument(where() + "cannot broadcast " + label(s.args[0]) + " to " +
                                 Shape(s.ints).ToString());
        }
        out = {x.dtype, Shape(s.ints)};
        break;
      }
      case Op::kSlice: {
        if (size_t(s.axis) >= x.shape.rank() || s.ints[1] > x.shape[size_t(s.axis)]) {
          return InvalidArgument(where() + "elements " + std::to_string(s.ints[0]) + ":" +
                                 std::to_string(s.ints[1]) + " of axis " + std::to_string(s.axis) +
                                 " are not in " + label(s.args[0]));
        }
        std::vector<int64_t> dims = x.shape.dims();
        dims[size_t(s.axis)] = s.ints[1] - s.ints[0];
        out = {x.dtype, Shape(dims)};
        break;
      }
      case Op::kCast:
        if (!IsFloatType(x.dtype)) {
          return Unimplemented(where() + "cannot cast " + label(s.args[0]) + " of dtype " +
                               std::string(DataTypeName(x.dtype)));
        }
        out = {s.dtype, x.shape};
        break;
      case Op::kBnScale:
      case Op::kBnBias: {
        const bool scale = s.op == Op::kBnScale;
        for (int32_t a : s.args) {
          if (a >= 0 && types[size_t(a)].dtype != DataType::kF32) {
            return Unimplemented(where() + label(a) + " is " +
                                 std::string(DataTypeName(types[size_t(a)].dtype)) +
                                 ", only f32 folds");
          }
        }
        if (scale && size_t(s.axis) >= x.shape.rank()) {
          return InvalidArgument(where() + "channel axis " + std::to_string(s.axis) +
                                 " out of range for " + label(s.args[0]));
        }
        const int64_t c =
            scale ? x.shape[size_t(s.axis)] : types[size_t(s.args[1])].shape.NumElements();
        for (size_t a = scale ? 1 : 0; a < s.args.size(); ++a) {
          if (s.args[a] < 0) continue;
          const int64_t n = types[size_t(s.args[a])].shape.NumElements();
          if (n != c) {
            return InvalidArgument(where() + label(s.args[a]) + " has " + std::to_string(n) +
                                   " elements, expected " + std::to_string(c) +
                                   " (one per channel)");
          }
        }
        out = {DataType::kF32, scale ? x.shape : Shape({c})};
        break;
      }
      case Op::kConcat: {
        const size_t rank = x.shape.rank();
        if (size_t(s.axis) >= rank) {
          return InvalidArgument(where() + "axis " + std::to_string(s.axis) + " out of range for " +
                                 label(s.args[0]));
        }
        std::vector<int64_t> dims = x.shape.dims();
        dims[size_t(s.axis)] = 0;
        for (int32_t a : s.args) {
          const TensorType& t = types[size_t(a)];
          bool ok = t.dtype == x.dtype && t.shape.rank() == rank;
          for (size_t d = 0; ok && d < rank; ++d) ok = d == size_t(s.axis) || t.shape[d] == dims[d];
          if (!ok) {
            return InvalidArgument(where() + label(a) + " " + std::string(DataTypeName(t.dtype)) +
                                   " does not concatenate with " + label(s.args[0]) + " " +
                                   std::string(DataTypeName(x.dtype)));
          }
          dims[size_t(s.axis)] += t.shape[size_t(s.axis)];
        }
        out = {x.dtype, Shape(dims)};
        break;
      }
      default:
        return Internal(where() + "unhandled step kind");
    }
  }
  return types.back();
}

}  // namespace refit::ir
